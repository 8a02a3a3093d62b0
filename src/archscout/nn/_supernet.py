"""The NB201 supernet: every edge of every search cell holds all 5 ops; one forward runs a soft mixture
(DARTS), a single path (SPOS) or a straight-through Gumbel sample (GDAS), algorithms.md §1.1, §5, §6.

Speed on CPU comes from fusing work that NB201's reference code repeats per (edge, op): per cell and
source node, the ReLU and the 3x3 average pool run once, and the 1x1 (3x3) convs of all edges leaving
that node are one conv with stacked output channels followed by one BatchNorm (BN is per channel, so
this equals separate convs and BNs with the same parameter count). Ops with weight exactly 0 (and the
``none`` op, whose output is 0) are never computed; when only some edges of a source need a conv,
the conv runs on the matching slice of the stacked weights (running statistics are updated in place
on the slice).

Architecture parameters live outside the supernet (the search methods own them), so
``parameters()`` holds network weights only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from archscout.nn._nb201 import nb201_skeleton
from archscout.spaces._nb201 import NB201_EDGES, NB201_OPS

NONE, SKIP, CONV1, CONV3, POOL = range(5)
_CONVS = (CONV1, CONV3)
# per source node: the edges leaving it, in canonical edge order (node 0 -> e0, e1, e3; ...)
EDGES_FROM = tuple(tuple(e for e, (_, s) in enumerate(NB201_EDGES) if s == src) for src in range(3))


@dataclass(frozen=True)
class _Plan:
    """What every search cell computes in one forward: per edge the ops to run with their coefficients
    (None = weight 1, single path), and the straight-through constant (None if there is none)."""

    terms: tuple[tuple[tuple[int, torch.Tensor | None], ...], ...]
    consts: tuple[torch.Tensor | None, ...]


def make_plan(weights: torch.Tensor | None, index: torch.Tensor | None, shape: tuple[int, int]) -> _Plan:
    """Validate the forward arguments (one of them at least) and turn them into a per-edge plan (one host
    sync per forward, shared by all cells)."""
    n_edges, n_ops = shape
    if index is not None:
        if tuple(index.shape) != (n_edges,) or index.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"index must be an integer tensor of shape ({n_edges},), got {tuple(index.shape)} "
                             f"{index.dtype}")
        ks = index.tolist()
        if not all(0 <= k < n_ops for k in ks):
            raise ValueError(f"index {ks} has op ids outside 0..{n_ops - 1}")
    if weights is not None and tuple(weights.shape) != shape:
        raise ValueError(f"weights must have shape {shape}, got {tuple(weights.shape)}")
    if index is None:  # soft mixture: every op with a non-zero weight
        nz = (weights != 0).tolist()
        terms = tuple(tuple((o, weights[e, o]) for o in range(1, n_ops) if nz[e][o]) for e in range(n_edges))
        return _Plan(terms, (None,) * n_edges)
    if weights is None:  # single path
        return _Plan(tuple(((k, None),) if k else () for k in ks), (None,) * n_edges)
    terms, consts = [], []
    for e, k in enumerate(ks):  # straight-through: w_k * op_k(x) + sum of the other weights (0 in value)
        terms.append(((k, weights[e, k]),) if k else ())
        consts.append(torch.cat([weights[e, :k], weights[e, k + 1:]]).sum())
    return _Plan(tuple(terms), tuple(consts))


class _StackedConvBN(nn.Module):
    """The convs of one kind (1x1 or 3x3) on all edges leaving one source node, stacked: ReLU is applied
    by the caller; ``forward(r, a, b)`` runs edges (slots) a..b-1 only."""

    def __init__(self, channels: int, edges: int, kernel: int, affine: bool, track_running_stats: bool):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels, edges * channels, kernel, padding=kernel // 2, bias=not affine)
        self.bn = nn.BatchNorm2d(edges * channels, affine=affine, track_running_stats=track_running_stats)

    def forward(self, r: torch.Tensor, a: int, b: int) -> torch.Tensor:
        lo, hi = a * self.channels, b * self.channels
        conv, bn = self.conv, self.bn
        y = F.conv2d(r, conv.weight[lo:hi], None if conv.bias is None else conv.bias[lo:hi], padding=conv.padding)
        stats = bn.running_mean is not None
        return F.batch_norm(
            y, bn.running_mean[lo:hi] if stats else None, bn.running_var[lo:hi] if stats else None,
            None if bn.weight is None else bn.weight[lo:hi], None if bn.bias is None else bn.bias[lo:hi],
            training=bn.training or not stats, momentum=bn.momentum, eps=bn.eps)


class SearchCell(nn.Module):
    """An NB201 search cell: 4 nodes, 6 edges, each edge a mixture of the 5 NB201 ops (own weights)."""

    def __init__(self, channels: int, affine: bool = False, track_running_stats: bool = True):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.ModuleList(_StackedConvBN(channels, len(edges), k, affine, track_running_stats) for k in (1, 3))
            for edges in EDGES_FROM)

    def conv(self, source: int, op: int, slots: list[int], r: torch.Tensor) -> dict[int, torch.Tensor]:
        """Outputs of conv ``op`` on the edges at ``slots`` (sorted) of ``source``: one call per run of
        adjacent slots, keyed by slot."""
        block, c = self.convs[source][op - CONV1], self.convs[source][op - CONV1].channels
        out: dict[int, torch.Tensor] = {}
        start = 0
        for i in range(1, len(slots) + 1):
            if i == len(slots) or slots[i] != slots[i - 1] + 1:
                a, b = slots[start], slots[i - 1] + 1
                y = block(r, a, b)
                out.update({s: y[:, (s - a) * c:(s - a + 1) * c] for s in range(a, b)})
                start = i
        return out

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor, plan: _Plan) -> torch.Tensor:
        nodes = [x]
        outputs: dict[tuple[int, int], torch.Tensor] = {}  # (edge, op) -> output
        for src in range(3):  # compute what leaves node src, then node src + 1 (its inputs are all ready)
            xs, edges = nodes[src], EDGES_FROM[src]
            need = {o: [slot for slot, e in enumerate(edges) if any(t[0] == o for t in plan.terms[e])]
                    for o in (CONV1, CONV3, POOL)}
            if need[CONV1] or need[CONV3]:
                r = F.relu(xs)
                for o in _CONVS:
                    if need[o]:
                        outputs.update({(edges[s], o): y for s, y in self.conv(src, o, need[o], r).items()})
            if need[POOL]:
                pooled = self.pool(xs)
                outputs.update({(edges[s], POOL): pooled for s in need[POOL]})
            nodes.append(self._node(src + 1, nodes, plan, outputs))
        return nodes[3]

    @staticmethod
    def _node(node: int, nodes: list[torch.Tensor], plan: _Plan, outputs) -> torch.Tensor:
        """Node ``node`` = sum over its incoming edges of (coefficient x op output) (+ constants)."""
        acc: torch.Tensor | None = None
        const: torch.Tensor | None = None
        for e, (d, s) in enumerate(NB201_EDGES):
            if d != node:
                continue
            for o, coef in plan.terms[e]:
                t = nodes[s] if o == SKIP else outputs[(e, o)]
                if coef is None:
                    acc = t if acc is None else acc + t
                else:
                    acc = t * coef if acc is None else torch.addcmul(acc, t, coef)
            if plan.consts[e] is not None:
                const = plan.consts[e] if const is None else const + plan.consts[e]
        if acc is None:
            acc = torch.zeros_like(nodes[0])
        return acc if const is None else acc + const


class NB201Supernet(nn.Module):
    """NB201's search network: TinyNetwork's skeleton (stem, 3 stages of N cells, 2 residual reductions,
    head) with search cells whose BN is ``affine=False`` with running statistics, as in AutoDL.

    ``forward(x, weights=None, index=None)`` returns logits:

    * ``weights`` (float, ``alpha_shape``): soft mixture per edge, sum_o w[e, o] * op_o(x) (DARTS); ops
      with weight exactly 0 are skipped;
    * ``index`` (long, ``(6,)``): one op per edge, only that op runs (single path, SPOS);
    * both: GDAS straight-through, only op k = index[e] runs: w[e, k] * op_k(x) + sum_{o != k} w[e, o];
    * neither: the uniform mixture.

    One architecture (weights/index) is shared by all cells; each cell has its own op weights.
    """

    alpha_shape = (len(NB201_EDGES), len(NB201_OPS))
    op_names = NB201_OPS
    space_name = "nb201"

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3, affine: bool = False,
                 track_running_stats: bool = True):
        super().__init__()
        self.stem, layers, c_prev = nb201_skeleton(C, N, in_channels,
                                                   lambda c: SearchCell(c, affine, track_running_stats))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                index: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None and index is None:
            weights = x.new_full(self.alpha_shape, 1.0 / self.alpha_shape[1])
        plan = make_plan(weights, index, self.alpha_shape)
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, plan) if isinstance(layer, SearchCell) else layer(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))
