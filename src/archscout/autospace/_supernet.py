"""Networks of the AutoSpace-style evolution: the skeleton, cell modules, mixed layers, the supernet.

The CPU skeleton (algorithms.md §13.3): stem Conv3x3 (in -> 8, stride 1) + BN + ReLU, then 4
searchable layers with widths 8/16/16/32 and strides 1/2/1/2 on 16x16 inputs, then global average
pooling and a linear classifier. ``Skeleton`` describes it (any widths/strides can be given).

``EvolutionSupernet``: each layer is a ``MixedLayer`` holding one ``CellModule`` per cell, keyed by
the cell's canonical hash (weights are shared per (layer, cell hash), §4.3 step 6); a forward pass
computes ``y_l = sum_k w_lk * cell_lk(x_l)`` over the layer's active cells (Eqn 3).
``CellNetwork`` is the stand-alone network of one cell per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archscout.autospace._cells import CELL_OPS, MERGES, NUM_NODES, Cell


@dataclass(frozen=True)
class LayerShape:
    h: int
    c_in: int
    c_out: int
    stride: int


@dataclass(frozen=True)
class Skeleton:
    """The fixed macro skeleton around the searchable layers."""

    widths: tuple[int, ...] = (8, 16, 16, 32)
    strides: tuple[int, ...] = (1, 2, 1, 2)
    stem: int = 8
    input_size: int = 16
    expansion: int = 2  # cell node width = expansion x layer output width (see _cells)

    def layers(self) -> list[LayerShape]:
        out, h, c = [], self.input_size, self.stem
        for w, s in zip(self.widths, self.strides):
            out.append(LayerShape(h, c, w, s))
            h, c = -(-h // s), w
        return out

    def fixed_macs(self, num_classes: int = 10, in_channels: int = 3) -> int:
        """MAdds of the stem and the classifier (what every architecture pays)."""
        return in_channels * self.stem * 9 * self.input_size ** 2 + self.widths[-1] * num_classes

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Skeleton":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


CPU_SKELETON = Skeleton()


def _op(name: str, c: int) -> nn.Module:
    if name == "identity":
        return nn.Identity()
    if name == "conv1x1":
        return nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    k = {"dw3x3": 3, "dw5x5": 5}[name]
    return nn.Sequential(nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU())


class CellModule(nn.Module):
    """A cell in a layer: adapter (AvgPool s, Conv1x1 c_in -> C, BN, ReLU) -> DAG -> Conv1x1 C -> c_out + BN,
    plus the input when shapes allow (see ``archscout.autospace._cells``)."""

    def __init__(self, cell: Cell, c_in: int, c_out: int, stride: int = 1, expansion: int = 2):
        super().__init__()
        self.cell = cell.canonical()
        c = expansion * c_out
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()
        self.adapter = nn.Sequential(nn.Conv2d(c_in, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.live = self.cell.live_edges()
        self.edges = nn.ModuleDict({f"e{to}{frm}": _op(CELL_OPS[op], c) for to, frm, op in self.live})
        self.merge = [MERGES[m] for m in self.cell.merge]
        self.project = nn.Sequential(nn.Conv2d(c, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: dict[int, torch.Tensor] = {0: self.adapter(self.pool(x))}
        for node in range(1, NUM_NODES):
            ins = [self.edges[f"e{to}{frm}"](nodes[frm]) for to, frm, _ in self.live if to == node]
            if not ins:
                continue
            if len(ins) == 1:
                nodes[node] = ins[0]
            elif self.merge[node - 1] == "max":
                nodes[node] = torch.stack(ins).amax(0)
            else:
                nodes[node] = torch.stack(ins).sum(0)
        y = self.project(nodes[NUM_NODES - 1])
        return y + x if self.residual else y

    def extra_repr(self) -> str:
        return f"cell={self.cell.describe()!r}, residual={self.residual}"


class MixedLayer(nn.Module):
    """One layer of the supernet: cell modules by hash; ``forward(x, w)`` mixes the active ones (Eqn 3)."""

    def __init__(self, shape: LayerShape, expansion: int = 2):
        super().__init__()
        self.shape, self.expansion = shape, expansion
        self.cells = nn.ModuleDict()
        self.active: list[str] = []

    def ensure(self, cell: Cell) -> str:
        key = "c" + cell.hash()
        if key not in self.cells:
            s = self.shape
            self.cells[key] = CellModule(cell, s.c_in, s.c_out, s.stride, self.expansion)
        return key

    def set_active(self, cells: Sequence[Cell]) -> None:
        self.active = [self.ensure(c) for c in cells]

    def prune(self, keep: Sequence[Cell]) -> None:
        """Drop the weights of cells no longer in the population."""
        wanted = {"c" + c.hash() for c in keep} | set(self.active)
        for key in [k for k in self.cells if k not in wanted]:
            del self.cells[key]

    def active_parameters(self) -> list[nn.Parameter]:
        return [p for k in self.active for p in self.cells[k].parameters()]

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                index: int | None = None) -> torch.Tensor:
        if index is not None:  # one path (GDAS-style hard sample): weights[index] keeps the gradient
            out = self.cells[self.active[index]](x)
            return out if weights is None else out * weights[index]
        if weights is None:
            weights = torch.full((len(self.active),), 1.0 / len(self.active), device=x.device)
        return sum(w * self.cells[k](x) for w, k in zip(weights, self.active))


class _Frame(nn.Module):
    """Stem and head shared by the supernet and the single-path networks."""

    def __init__(self, skeleton: Skeleton, num_classes: int, in_channels: int):
        super().__init__()
        self.skeleton = skeleton
        self.stem = nn.Sequential(nn.Conv2d(in_channels, skeleton.stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(skeleton.stem), nn.ReLU())
        self.fc = nn.Linear(skeleton.widths[-1], num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class EvolutionSupernet(_Frame):
    """The supernet of the evolution: per layer a MixedLayer; ``forward(x, weights)`` with one weight
    vector per layer (softmax of the fitness logits)."""

    def __init__(self, skeleton: Skeleton = CPU_SKELETON, num_classes: int = 10, in_channels: int = 3):
        super().__init__(skeleton, num_classes, in_channels)
        self.layers = nn.ModuleList(MixedLayer(s, skeleton.expansion) for s in skeleton.layers())

    def frame_parameters(self) -> list[nn.Parameter]:
        return [*self.stem.parameters(), *self.fc.parameters()]

    def forward(self, x: torch.Tensor, weights: Sequence[torch.Tensor] | None = None,
                index: Sequence[int] | None = None) -> torch.Tensor:
        x = self.stem(x)
        for i, layer in enumerate(self.layers):
            x = layer(x, None if weights is None else weights[i], None if index is None else index[i])
        return self.head(x)


class ChoiceSupernet(_Frame):
    """A supernet over fixed per-layer candidate modules (a learned space's K cells, or hand-made blocks),
    for DARTS/GDAS-style search: ``forward(x, weights)`` with weights (L, K) or ``index`` (one per layer)."""

    def __init__(self, skeleton: Skeleton, candidates: Sequence[Sequence[nn.Module]], num_classes: int,
                 in_channels: int):
        super().__init__(skeleton, num_classes, in_channels)
        self.layers = nn.ModuleList(nn.ModuleList(c) for c in candidates)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                index: Sequence[int] | None = None) -> torch.Tensor:
        x = self.stem(x)
        for i, cands in enumerate(self.layers):
            if index is not None:
                j = int(index[i])
                x = cands[j](x) * (1.0 if weights is None else weights[i][j])
            else:
                x = sum(weights[i][j] * m(x) for j, m in enumerate(cands))
        return self.head(x)


class SequentialNetwork(_Frame):
    """A stand-alone network: stem, one module per layer, head."""

    def __init__(self, skeleton: Skeleton, blocks: Sequence[nn.Module], num_classes: int, in_channels: int):
        super().__init__(skeleton, num_classes, in_channels)
        self.layers = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def cell_network(skeleton: Skeleton, cells: Sequence[Cell], num_classes: int = 10,
                 in_channels: int = 3) -> SequentialNetwork:
    """The network of one cell per layer."""
    blocks = [CellModule(c, s.c_in, s.c_out, s.stride, skeleton.expansion) for c, s in zip(cells, skeleton.layers())]
    return SequentialNetwork(skeleton, blocks, num_classes, in_channels)
