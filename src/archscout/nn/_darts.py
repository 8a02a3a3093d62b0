"""DARTS cell ops, the cell and the evaluation network (DARTS; NAS-OoD variant), algorithms.md §1.3.

The network follows DARTS's CIFAR evaluation network: a 3x3 stem to 3C channels, L cells with
reductions (stride 2, channels doubled) at L//3 and 2L//3, an optional auxiliary head after cell
2L//3, global average pooling and a linear classifier. ``bn_after_pool_skip`` adds NAS-OoD's
BatchNorm after pooling ops and after the identity skip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv k x k (no bias) -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise k x k with dilation (stride s) -> Conv 1x1 -> BN."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=C_in,
                      bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked (ReLU -> depthwise k x k -> Conv 1x1 -> BN); only the first has stride s."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class Identity(nn.Identity):
    """The stride-1 ``skip_connect``."""


class FactorizedReduce(nn.Module):
    """Halve H and W: ReLU, two 1x1 stride-2 convs (the second on the input shifted by one pixel), concat, BN.

    The shifted input is zero-padded at the bottom/right, so odd sizes work (output ceil(H/2)); for
    even sizes this equals DARTS's ``conv_2(x[:, :, 1:, 1:])``. An odd ``C_out`` gives the extra
    channel to the second conv.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


# name -> factory(C, stride, affine); C_in = C_out = C inside a cell.
OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "skip_connect": lambda C, stride, affine: Identity() if stride == 1 else FactorizedReduce(C, C, affine),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}


def darts_op(name: str, C: int, stride: int, affine: bool = True, bn_after_pool_skip: bool = False) -> nn.Module:
    """One edge op. With ``bn_after_pool_skip`` (NAS-OoD), pooling ops and the stride-1 skip are
    followed by ``BatchNorm2d(C, affine=False)`` (no parameters, running statistics only); the
    stride-2 skip (FactorizedReduce) already ends in a BN and gets none."""
    try:
        factory = OPS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown DARTS op {name!r}; choose from: {', '.join(OPS)}") from None
    op = factory(C, stride, affine)
    if bn_after_pool_skip and ("pool" in name or isinstance(op, Identity)):
        op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest by 1 / (1 - drop_prob)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    """A DARTS cell of fixed ops: 2 inputs, ``len(genotype_half) // 2`` nodes of 2 edges, concat output.

    Args:
        genotype_half: the cell's ``(op_name, input)`` pairs, 2 per node; node i reads states
            0 .. i + 1 (0, 1: the preprocessed cell inputs).
        C_pp, C_p: channels of the cell inputs (outputs of the cells two and one back).
        C: channels of every node; the output has ``len(concat) * C``.
        reduction: this cell halves H and W (stride 2 on edges from states 0 and 1).
        reduction_prev: the previous cell was a reduction, so input 0 is halved here
            (FactorizedReduce) to match input 1.
        concat: the states concatenated into the output (2..5: every node).
        bn_after_pool_skip: NAS-OoD's BN after pooling and identity skip (see ``darts_op``).
    """

    def __init__(self, genotype_half: Sequence[tuple[str, int]], C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, concat: Sequence[int] = (2, 3, 4, 5), bn_after_pool_skip: bool = True,
                 affine: bool = True):
        super().__init__()
        edges = [(str(name), int(inp)) for name, inp in genotype_half]
        if not edges or len(edges) % 2:
            raise ValueError(f"a cell needs 2 edges per node, got {len(edges)} edges")
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(C_pp, C, affine) if reduction_prev
                            else ReLUConvBN(C_pp, C, 1, 1, 0, affine))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine)
        self.steps = len(edges) // 2
        self.inputs = tuple(inp for _, inp in edges)
        for k, inp in enumerate(self.inputs):
            if not 0 <= inp < 2 + k // 2:
                raise ValueError(f"node {k // 2} cannot read state {inp}; accepted: 0..{k // 2 + 1}")
        self.concat = tuple(int(c) for c in concat)
        if not self.concat or not all(0 <= c < 2 + self.steps for c in self.concat):
            raise ValueError(f"concat {self.concat} must name states 0..{self.steps + 1}")
        self.multiplier = len(self.concat)
        strides = [2 if reduction and inp < 2 else 1 for inp in self.inputs]
        self.ops = nn.ModuleList(
            darts_op(name, C, s, affine, bn_after_pool_skip) for (name, _), s in zip(edges, strides)
        )
        # DARTS applies drop-path to every edge except the identity skip.
        self.droppable = tuple(not (name == "skip_connect" and s == 1) for (name, _), s in zip(edges, strides))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(self.steps):
            total = None
            for e in (2 * node, 2 * node + 1):
                h = self.ops[e](states[self.inputs[e]])
                if self.training and drop_prob > 0.0 and self.droppable[e]:
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's CIFAR auxiliary head: ReLU, AvgPool 5 (stride 3), Conv 1x1 -> 128, BN, ReLU,
    Conv 2x2 -> 768, BN, ReLU, Linear.

    On the 8x8 map of a 32x32 input this is DARTS's head exactly. Other sizes: maps smaller than
    5x5 skip the pool, a map below 2x2 after it is replicated to 2x2, and a map larger than 1x1 after
    the 2x2 conv is averaged, so any input size works with the same parameters.
    """

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
        )
        self.features2 = nn.Sequential(
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if min(x.shape[-2:]) >= 5:
            x = self.pool(x)
        x = self.features(x)
        if min(x.shape[-2:]) < 2:
            x = F.adaptive_avg_pool2d(x, (max(2, x.shape[-2]), max(2, x.shape[-1])))
        x = self.features2(x)
        if x.shape[-2:] != (1, 1):
            x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(x.flatten(1))


def _half(genotype: Any, cell: str) -> tuple[Sequence[tuple[str, int]], Sequence[int]]:
    return getattr(genotype, cell), getattr(genotype, f"{cell}_concat", (2, 3, 4, 5))


def darts_skeleton(C: int, layers: int, in_channels: int, stem_multiplier: int,
                   make_cell: Callable[[int, int, int, bool, bool], nn.Module]
                   ) -> tuple[nn.Sequential, nn.ModuleList, list[int]]:
    """DARTS's macro skeleton, shared by the network and the supernet: the stem (conv 3x3 + BN to
    ``stem_multiplier * C`` channels) and ``layers`` cells with reductions (channels doubled) at L//3
    and 2L//3. ``make_cell(C_pp, C_p, C, reduction, reduction_prev)`` builds a cell with a
    ``multiplier``; returns (stem, cells, output channels of each cell)."""
    C_curr = stem_multiplier * C
    stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr))
    C_pp, C_p, C_curr = C_curr, C_curr, C
    cells, widths = nn.ModuleList(), []
    reductions, reduction_prev = {layers // 3, 2 * layers // 3}, False
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            C_curr *= 2
        cell = make_cell(C_pp, C_p, C_curr, reduction, reduction_prev)
        cells.append(cell)
        reduction_prev = reduction
        C_pp, C_p = C_p, cell.multiplier * C_curr
        widths.append(C_p)
    return stem, cells, widths


class DartsNetwork(nn.Module):
    """DARTS's evaluation network (``NetworkCIFAR``) for a genotype, for any input size >= 8.

    ``forward`` returns logits; in training mode with ``auxiliary=True`` it returns
    ``(logits, aux_logits)``. Set ``drop_path_prob`` between epochs to schedule drop-path (used in
    training mode only). Parameters of the auxiliary head are named ``auxiliary_head.*``; DARTS
    reports model sizes without them.

    Args:
        genotype: a ``Genotype`` (or any object with ``normal``, ``normal_concat``, ``reduce``,
            ``reduce_concat``).
        C: channels of the first cells (36 in DARTS's CIFAR-10 network, 16 in its search network).
        num_classes: classifier outputs.
        layers: number of cells L; reductions at L//3 and 2L//3.
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        auxiliary: add the auxiliary head after cell 2L//3 (its logits are returned in training).
        drop_path_prob: initial drop-path probability.
        bn_after_pool_skip: NAS-OoD's extra ``BatchNorm2d(affine=False)`` after pooling ops and the
            identity skip (adds no parameters, only running statistics).
        stem_multiplier: the stem outputs ``stem_multiplier * C`` channels (3 in DARTS).
    """

    def __init__(self, genotype: Any, C: int, num_classes: int, layers: int, in_channels: int = 3,
                 auxiliary: bool = False, drop_path_prob: float = 0.0, bn_after_pool_skip: bool = True,
                 stem_multiplier: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.genotype = genotype
        self.layers = layers
        self.auxiliary = auxiliary
        self.drop_path_prob = drop_path_prob
        self.aux_position = 2 * layers // 3

        def make_cell(C_pp: int, C_p: int, C_curr: int, reduction: bool, reduction_prev: bool) -> Cell:
            edges, concat = _half(genotype, "reduce" if reduction else "normal")
            return Cell(edges, C_pp, C_p, C_curr, reduction, reduction_prev, concat=concat,
                        bn_after_pool_skip=bn_after_pool_skip)

        self.stem, self.cells, widths = darts_skeleton(C, layers, in_channels, stem_multiplier, make_cell)
        self.auxiliary_head = AuxiliaryHead(widths[self.aux_position], num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor):
        aux_logits = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_position and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, aux_logits) if aux_logits is not None else logits
