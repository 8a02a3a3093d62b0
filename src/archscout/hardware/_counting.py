"""Counting parameters and multiply-accumulates (MACs).

Any model: ``count_params`` sums parameter sizes; ``count_macs`` runs one forward pass under
PyTorch's own ``torch.utils.flop_counter.FlopCounterMode`` and halves its FLOPs (it counts 2 per
multiply-accumulate of conv, linear and matmul; pooling, BN, activations and additions count 0).
For NB201 and FBNet the same numbers come from closed forms, vectorized over many archs, so
tables need no network building; tests check both ways agree exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archscout.spaces._fbnet import FBNET_OP_PARAMS, fbnet_config, fbnet_layers

if TYPE_CHECKING:
    from torch import nn


def count_params(model: "nn.Module") -> int:
    """Number of parameters (all, trainable or not; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: "nn.Module", input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on a zero input of ``input_shape`` (with batch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def nb201_params_macs(ops: np.ndarray, *, C: int = 16, N: int = 5, num_classes: int = 10,
                      input_size: int = 32, in_channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Params and MACs of NB201 TinyNetworks for op-id rows ``ops`` (n, 6). Exact, vectorized.

    Only conv edges carry parameters and MACs (1x1: c^2, 3x3: 9c^2 weights, +2c BN), so each is
    the skeleton's share plus per-edge terms summed over the 3 stages of N cells.
    """
    ops = np.asarray(ops).reshape(-1, 6)
    n1 = (ops == 2).sum(1)
    n3 = (ops == 3).sum(1)
    chans = (C, 2 * C, 4 * C)
    sizes = (input_size, -(-input_size // 2), -(-(-(-input_size // 2)) // 2))  # ceil halving
    p_edge = {k: N * sum(k * k * c * c + 2 * c for c in chans) for k in (1, 3)}
    m_edge = {k: N * sum(k * k * c * c * h * h for c, h in zip(chans, sizes)) for k in (1, 3)}
    params = in_channels * 9 * C + 2 * C  # stem conv + BN
    macs = in_channels * 9 * C * sizes[0] ** 2
    for (ci, co), h in zip(((C, 2 * C), (2 * C, 4 * C)), sizes[1:]):  # residual reductions
        params += 9 * ci * co + 2 * co + 9 * co * co + 2 * co + ci * co
        macs += (9 * ci * co + 9 * co * co + ci * co) * h * h
    params += 2 * chans[2] + chans[2] * num_classes + num_classes  # last BN + classifier
    macs += chans[2] * num_classes
    return (params + n1 * p_edge[1] + n3 * p_edge[3]).astype(np.int64), \
           (macs + n1 * m_edge[1] + n3 * m_edge[3]).astype(np.int64)


def fbnet_layer_costs(dataset: str, in_channels: int = 3, num_classes: int | None = None):
    """Per-layer params and MACs of each of the 9 ops (arrays (22, 9)) and the fixed skeleton's."""
    cfg = fbnet_config(dataset)
    classes = num_classes or cfg.num_classes
    layers = fbnet_layers(dataset)
    p = np.zeros((len(layers), len(FBNET_OP_PARAMS)), dtype=np.int64)
    m = np.zeros_like(p)
    for i, layer in enumerate(layers):
        h_out = -(-layer.h // layer.stride)
        for j, op in enumerate(FBNET_OP_PARAMS):
            if op is None:  # skip: identity, or 1x1 conv (stride s) + BN where shapes change
                if layer.stride != 1 or layer.c_in != layer.c_out:
                    p[i, j] = layer.c_in * layer.c_out + 2 * layer.c_out
                    m[i, j] = layer.c_in * layer.c_out * h_out * h_out
                continue
            mid = layer.c_in * op.expansion
            w1 = layer.c_in * mid // op.group
            wd = mid * op.kernel * op.kernel
            w3 = mid * layer.c_out // op.group
            p[i, j] = w1 + wd + w3 + 2 * (mid + mid + layer.c_out)
            m[i, j] = w1 * layer.h * layer.h + (wd + w3) * h_out * h_out
    h = layers[-1].h // layers[-1].stride
    stem_h = -(-cfg.input_size // cfg.stem_stride)
    base_p = in_channels * 9 * cfg.stem_channels + 2 * cfg.stem_channels
    base_m = in_channels * 9 * cfg.stem_channels * stem_h * stem_h
    hc = cfg.header_channels
    base_p += cfg.stage_channels[-1] * hc + 2 * hc + hc * classes + classes
    base_m += cfg.stage_channels[-1] * hc * h * h + hc * classes
    return p, m, base_p, base_m


def fbnet_params_macs(ops: np.ndarray, dataset: str = "cifar100", **kw) -> tuple[np.ndarray, np.ndarray]:
    """Params and MACs of FBNet networks for op rows ``ops`` (n, 22). Exact, vectorized."""
    ops = np.asarray(ops, dtype=np.int64).reshape(-1, 22)
    p, m, base_p, base_m = fbnet_layer_costs(dataset, **kw)
    rows = np.arange(22)
    return base_p + p[rows, ops].sum(1), base_m + m[rows, ops].sum(1)
