"""NB201's inference network (TinyNetwork): stem, 3 stages of N cells, 2 residual reductions."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from archscout.spaces._nb201 import NB201_EDGES, NB201_OPS


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` op: output = input * 0 (shape kept)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def nb201_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    """One NB201 edge op (stride 1, C_in = C_out, as always inside NB201 cells)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, affine=affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}; choose from: {', '.join(NB201_OPS)}")


class InferCell(nn.Module):
    """A fixed NB201 cell: node i = sum of op(node j) over j < i; the output is node 3."""

    def __init__(self, ops: tuple[int, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(nb201_op(NB201_OPS[o], channels) for o in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            nodes.append(sum(op(nodes[s]) for op, (d, s) in zip(self.edges, NB201_EDGES) if d == node))
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    """The reduction block between stages: conv path + (avg-pool, 1x1 conv) shortcut, no final ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def nb201_skeleton(C: int, N: int, in_channels: int,
                   make_cell: Callable[[int], nn.Module]) -> tuple[nn.Module, list[nn.Module], int]:
    """NB201's macro skeleton: the stem, then 3 stages of N cells (C, 2C, 4C channels) joined by residual
    reductions; returns (stem, layers, channels of the last stage). Shared by the network and the supernet."""
    stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    layers: list[nn.Module] = []
    c_prev = C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage:
            layers.append(ResNetBasicBlock(c_prev, c, 2))
        layers.extend(make_cell(c) for _ in range(N))
        c_prev = c
    return stem, layers, c_prev


class TinyNetwork(nn.Module):
    """NB201's network for an arch string: 3N cells + 2 reductions + head. ``forward`` returns logits.

    Args:
        arch: NB201 arch string or op-id tuple.
        C: channels of the first stage (16 in NB201); stages use C, 2C, 4C.
        N: cells per stage (5 in NB201: 17 layers in all).
        num_classes: 10 (CIFAR-10), 100 (CIFAR-100), 120 (ImageNet16-120).
        in_channels: image channels (3 for the NB201 datasets).
        return_features: return ``(pooled_features, logits)`` like NB201's reference forward.
    """

    def __init__(self, arch, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
                 return_features: bool = False):
        super().__init__()
        from archscout.spaces import get_space

        self.arch = get_space("nb201").parse(arch)
        self.return_features = return_features
        self.stem, layers, c_prev = nb201_skeleton(C, N, in_channels, lambda c: InferCell(self.arch.ops, c))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor):
        out = self.lastact(self.cells(self.stem(x)))
        features = self.global_pooling(out).flatten(1)
        logits = self.classifier(features)
        return (features, logits) if self.return_features else logits
