"""DARTS-cell-space supernet (DARTS's search network) and the derivation of a discrete arch.

algorithms.md §1.3 (the cell) and §5 (DARTS, derivation). Every one of the 14 edges of a cell holds
all 8 DARTS primitives (``none`` first, then the DARTS space's 7 ops); a normal and a reduction cell
type each have their own architecture weights, so ``alpha_shape == (2, 14, 8)``. The architecture
parameters are not part of the module: the caller owns them and passes them to ``forward``, so the
module's ``parameters()`` are the shared weights only.

``forward(x, weights=None, index=None)`` has three modes (the one-shot methods share this contract
with ``archscout.nn._supernet.NB201Supernet``):

- ``weights`` only (DARTS, soft mixture): edge output ``sum_o w[o] * op_o(x)``; ops whose weight is
  exactly 0 are not run, and ``none`` is never run (its term is identically 0 in value and gradient);
- ``index`` only (single path, SPOS): only op ``index[c, e]`` runs on edge ``e`` of cell type ``c``;
- both (GDAS, straight-through): only op ``k = index[c, e]`` runs and the edge output is
  ``w[k] * op_k(x) + sum_{o != k} w[o]``; the second sum is 0 in value for straight-through weights
  (``one_hot - p.detach() + p``) but carries the gradient to every alpha entry.
- neither: a uniform mixture (``weights = 1/8`` everywhere).

As in DARTS's search network, cell BN is ``affine=False`` by default (running statistics on), pooling
ops are followed by ``BatchNorm2d(C, affine=False)``, and the stem's BN is affine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archscout.nn._darts import FactorizedReduce, ReLUConvBN, darts_op, darts_skeleton
from archscout.spaces._base import Arch, get_space
from archscout.spaces._darts import CONCAT, NUM_NODES, PRIMITIVES, Genotype

OP_NAMES: tuple[str, ...] = ("none", *PRIMITIVES)
"""The supernet's candidate ops in DARTS's order: ``none`` then the space's 7 (op id = position)."""

CELL_TYPES = ("normal", "reduce")


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the edge output (subsampled by ``stride``)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        n, c, h, w = x.shape
        s = self.stride
        return x.new_zeros(n, c, (h + s - 1) // s, (w + s - 1) // s)


def _candidate(name: str, C: int, stride: int, affine: bool, bn_after_pool_skip: bool) -> nn.Module:
    if name == "none":
        return Zero(stride)
    op = darts_op(name, C, stride, affine, bn_after_pool_skip=bn_after_pool_skip)
    if not bn_after_pool_skip and "pool" in name:
        # DARTS's search network: BN (no affine) after every pooling op.
        op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


def edge_inputs(steps: int = NUM_NODES) -> tuple[tuple[int, int], ...]:
    """``(node, input_state)`` of every edge in the canonical (DARTS) order: node-major, inputs ascending.

    Node i (0-based) reads states 0 .. i + 1 (0, 1: the cell inputs), so there are
    ``2 + 3 + ... + (steps + 1)`` edges (14 for 4 nodes).
    """
    return tuple((node, j) for node in range(steps) for j in range(2 + node))


class SearchCell(nn.Module):
    """A DARTS search cell: two preprocessed inputs, ``steps`` nodes over all earlier states, every edge
    holding all candidate ops; output = concat of the last ``multiplier`` nodes.

    ``edges[e][o]`` is op ``o`` (``OP_NAMES`` order) on edge ``e`` (``edge_inputs`` order).
    """

    def __init__(self, steps: int, multiplier: int, C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, affine: bool = False, bn_after_pool_skip: bool = False):
        super().__init__()
        self.reduction = reduction
        self.steps = steps
        self.multiplier = multiplier
        self.C = C
        self.preprocess0 = (FactorizedReduce(C_pp, C, affine) if reduction_prev
                            else ReLUConvBN(C_pp, C, 1, 1, 0, affine))
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine)
        self.inputs = edge_inputs(steps)
        self.edges = nn.ModuleList(
            nn.ModuleList(
                _candidate(name, C, 2 if reduction and j < 2 else 1, affine, bn_after_pool_skip)
                for name in OP_NAMES
            )
            for _node, j in self.inputs
        )
        # node -> the edge ids of its incoming edges
        self.node_edges = tuple(
            tuple(e for e, (node, _j) in enumerate(self.inputs) if node == i) for i in range(steps)
        )

    def _zeros(self, s1: torch.Tensor) -> torch.Tensor:
        n, _c, h, w = s1.shape
        if self.reduction:
            h, w = (h + 1) // 2, (w + 1) // 2
        return s1.new_zeros(n, self.C, h, w)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, w: Sequence[torch.Tensor] | None,
                used: Sequence[Sequence[int]], rest: torch.Tensor | None = None) -> torch.Tensor:
        """Run the cell.

        Args:
            w: per edge, per op, a 0-d weight tensor (``None``: single path, no scaling).
            used: per edge, the op ids to run.
            rest: GDAS only, per node, the sum of the weights of the ops not run (a 0-d tensor each).
        """
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i, edge_ids in enumerate(self.node_edges):
            total = None
            for e in edge_ids:
                x = states[self.inputs[e][1]]
                ops = self.edges[e]
                for o in used[e]:
                    h = ops[o](x)
                    if w is not None:
                        h = h * w[e][o]
                    total = h if total is None else total + h
            if total is None:
                total = self._zeros(s1)
            if rest is not None:
                total = total + rest[i]
            states.append(total)
        return torch.cat(states[-self.multiplier:], dim=1)


class DartsSupernet(nn.Module):
    """DARTS's search network over the DARTS cell space (8 ops per edge, ``none`` included).

    A stem (Conv 3x3 to ``stem_multiplier * C``, BN), ``layers`` search cells with reductions (stride
    2, channels doubled) at ``layers // 3`` and ``2 * layers // 3``, global average pooling and a
    linear classifier. ``forward`` returns logits. See the module docstring for the three modes.

    Example::

        net = DartsSupernet(C=4, layers=3)
        alpha = 1e-3 * torch.randn(net.alpha_shape, requires_grad=True)
        logits = net(torch.randn(2, 3, 16, 16), weights=alpha.softmax(-1))
        arch = derive_darts(alpha)  # an Arch of get_space("darts")

    Args:
        C: channels of the first cells.
        layers: number of cells.
        num_classes: classifier outputs.
        in_channels: image channels.
        steps: intermediate nodes per cell (4 in the DARTS space).
        multiplier: how many of the last nodes are concatenated into the cell output (4).
        stem_multiplier: the stem outputs ``stem_multiplier * C`` channels.
        affine: affine BN in the cells (DARTS's search network: False).
        bn_after_pool_skip: NAS-OoD's variant (BN after pooling and the identity skip) instead of
            DARTS's (BN after pooling only).
    """

    space_name = "darts"
    op_names = OP_NAMES

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 steps: int = 4, multiplier: int = 4, stem_multiplier: int = 3, affine: bool = False,
                 bn_after_pool_skip: bool = False):
        super().__init__()
        if layers < 1 or steps < 1 or not 1 <= multiplier <= steps:
            raise ValueError(
                f"need layers >= 1, steps >= 1 and 1 <= multiplier <= steps; "
                f"got layers={layers}, steps={steps}, multiplier={multiplier}"
            )
        self.C = C
        self.layers = layers
        self.steps = steps
        self.multiplier = multiplier
        self.num_edges = len(edge_inputs(steps))
        self.alpha_shape = (len(CELL_TYPES), self.num_edges, len(OP_NAMES))
        self.stem, self.cells, widths = darts_skeleton(
            C, layers, in_channels, stem_multiplier,
            lambda C_pp, C_p, C_curr, reduction, reduction_prev: SearchCell(
                steps, multiplier, C_pp, C_p, C_curr, reduction, reduction_prev, affine, bn_after_pool_skip))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(widths[-1], num_classes)

    def _check(self, weights: torch.Tensor | None, index: torch.Tensor | None) -> None:
        if weights is not None and tuple(weights.shape) != self.alpha_shape:
            raise ValueError(f"weights must have shape {self.alpha_shape}, got {tuple(weights.shape)}")
        if index is not None:
            if tuple(index.shape) != self.alpha_shape[:2]:
                raise ValueError(f"index must have shape {self.alpha_shape[:2]}, got {tuple(index.shape)}")
            if index.dtype.is_floating_point or index.dtype == torch.bool:
                raise ValueError(f"index must be an integer tensor, got {index.dtype}")
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(OP_NAMES)):
                raise ValueError(f"index values must be op ids in 0..{len(OP_NAMES) - 1}")

    def _plan(self, weights: torch.Tensor | None, index: torch.Tensor | None,
              x: torch.Tensor) -> list[tuple[Any, Any, Any]]:
        """Per cell type: (per-edge per-op weight scalars or None, ops to run per edge, GDAS rest)."""
        n_types, n_edges, n_ops = self.alpha_shape
        if weights is None and index is None:
            weights = x.new_full(self.alpha_shape, 1.0 / n_ops)
        plans = []
        for c in range(n_types):
            w = rest = None
            if weights is not None:
                flat = weights[c].reshape(-1).unbind()
                w = [flat[e * n_ops:(e + 1) * n_ops] for e in range(n_edges)]
            if index is not None:
                ks = index[c].tolist()
                used = [(k,) for k in ks]
                if weights is not None:
                    # GDAS: sum of the weights of the ops not run, per node (0 in value for
                    # straight-through weights; keeps the gradient to every alpha entry).
                    keep = torch.ones(n_edges, n_ops, dtype=weights.dtype, device=weights.device)
                    keep[torch.arange(n_edges, device=weights.device), index[c].to(weights.device)] = 0
                    per_edge = (weights[c] * keep).sum(-1)
                    rest = [per_edge[list(edges)].sum() for edges in self.cells[0].node_edges]
            else:
                nz = (weights[c] != 0).tolist()
                used = [tuple(o for o in range(1, n_ops) if row[o]) for row in nz]  # never run 'none'
            plans.append((w, used, rest))
        return plans

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                index: torch.Tensor | None = None) -> torch.Tensor:
        self._check(weights, index)
        plans = self._plan(weights, index, x)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            w, used, rest = plans[1 if cell.reduction else 0]
            s0, s1 = s1, cell(s0, s1, w, used, rest)
        return self.classifier(self.global_pooling(s1).flatten(1))


def _as_probs(alpha_or_probs: Any, probs: bool | None) -> torch.Tensor:
    t = torch.as_tensor(alpha_or_probs, dtype=torch.float64).detach().cpu()
    if t.dim() != 3 or t.shape[0] != len(CELL_TYPES) or t.shape[2] != len(OP_NAMES):
        raise ValueError(f"expected a (2, edges, {len(OP_NAMES)}) tensor of alpha or probabilities, "
                         f"got shape {tuple(t.shape)}")
    if probs is None:
        probs = bool((t >= 0).all() and bool(((t.sum(-1) - 1).abs() <= 1e-4).all()))
    return t if probs else t.softmax(-1)


def derive_genotype(alpha_or_probs: Any, probs: bool | None = None) -> Genotype:
    """The DARTS genotype of an alpha (or of its softmax): §5's derivation for the DARTS space.

    Per node, keep the two incoming edges with the strongest non-``none`` probability (ties to the
    lower input), then on each kept edge the most probable non-``none`` op; a node's two edges are
    listed strongest first, as DARTS does.

    Args:
        alpha_or_probs: shape ``(2, 14, 8)`` (normal, reduce): raw alpha, or probabilities per edge.
        probs: whether the input is already probabilities; ``None`` detects it (non-negative rows
            that sum to 1), otherwise softmax is applied over the last axis.
    """
    p = _as_probs(alpha_or_probs, probs)
    n_edges = p.shape[1]
    steps = next((s for s in range(1, 64) if len(edge_inputs(s)) == n_edges), None)
    if steps is None:
        raise ValueError(f"{n_edges} edges is not a DARTS cell (14 for 4 nodes)")
    inputs = edge_inputs(steps)
    halves = []
    for c in range(len(CELL_TYPES)):
        genes = []
        for i in range(steps):
            edges = [e for e, (node, _j) in enumerate(inputs) if node == i]
            strength = {e: float(p[c, e, 1:].max()) for e in edges}
            kept = sorted(edges, key=lambda e: (-strength[e], inputs[e][1]))[:2]
            for e in kept:
                op = 1 + int(p[c, e, 1:].argmax())
                genes.append((OP_NAMES[op], inputs[e][1]))
        halves.append(tuple(genes))
    concat = tuple(range(2 + steps - min(steps, NUM_NODES), 2 + steps))
    return Genotype(halves[0], concat, halves[1], concat)


def derive_darts(alpha_or_probs: Any, probs: bool | None = None) -> Arch:
    """The DARTS-space ``Arch`` derived from an alpha or its probabilities (see ``derive_genotype``).

    Example::

        arch = derive_darts(alpha)
        get_space("darts").to_str(arch)  # 'normal=sep_conv_3x3~1+skip_connect~0,.../reduce=...'
    """
    genotype = derive_genotype(alpha_or_probs, probs)
    if genotype.normal_concat != CONCAT:
        raise ValueError(f"the DARTS space has {NUM_NODES} nodes per cell; this alpha has a different count")
    return get_space("darts").from_genotype(genotype)
