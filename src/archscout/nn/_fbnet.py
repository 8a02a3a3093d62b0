"""The FBNet network of HW-NAS-Bench, built from 22 op indices (see ``archscout.spaces._fbnet``).

stem (Conv3x3 + BN + ReLU) -> 22 layers (ConvBlock or Skip) -> header (Conv1x1 + BN + ReLU)
-> global average pool -> Linear.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from archscout.exceptions import InvalidArchError
from archscout.spaces._base import Arch
from archscout.spaces._fbnet import (
    FBNET_NUM_LAYERS,
    FBNET_OP_PARAMS,
    FBNET_OPS,
    FBNetConfig,
    fbnet_config,
    fbnet_layers,
)

__all__ = ["ConvBlock", "FBNetNetwork", "Skip", "channel_shuffle", "conv_bn_relu", "fbnet_op"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: [N, g, C/g, H, W] -> swap 1, 2 -> flatten."""
    if groups == 1:
        return x
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ConvBlock(nn.Module):
    """Inverted-residual block: 1x1 (C_in -> C_in*e, groups g) -> shuffle -> depthwise kxk (stride s)
    -> 1x1 (C_in*e -> C_out, groups g), each followed by BN, ReLU after the first two; residual add
    when C_in == C_out and s == 1. The expansion multiplies C_in."""

    def __init__(self, c_in: int, c_out: int, expansion: int, kernel: int, stride: int, group: int = 1):
        super().__init__()
        mid = c_in * expansion
        if c_in % group or c_out % group or mid % group:
            raise ValueError(f"ConvBlock: channels {c_in}/{mid}/{c_out} not divisible by group {group}")
        self.c_in, self.c_out = c_in, c_out
        self.expansion, self.kernel, self.stride, self.group = expansion, kernel, stride, group
        padding = math.ceil((kernel - stride) / 2)
        self.conv1 = nn.Conv2d(c_in, mid, 1, stride=1, padding=0, groups=group, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel, stride=stride, padding=padding, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, stride=1, padding=0, groups=group, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.use_residual = c_in == c_out and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = channel_shuffle(y, self.group)
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return y + x if self.use_residual else y

    def extra_repr(self) -> str:
        return (
            f"c_in={self.c_in}, c_out={self.c_out}, expansion={self.expansion}, kernel={self.kernel}, "
            f"stride={self.stride}, group={self.group}, residual={self.use_residual}"
        )


class Skip(nn.Module):
    """Identity when stride 1 and C_in == C_out; otherwise Conv1x1 (stride s) + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        self.is_identity = stride == 1 and c_in == c_out
        if self.is_identity:
            self.conv = self.bn = None
        else:
            self.conv = nn.Conv2d(c_in, c_out, 1, stride=stride, padding=0, bias=False)
            self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_identity:
            return x
        return F.relu(self.bn(self.conv(x)))

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}, stride={self.stride}, identity={self.is_identity}"


def fbnet_op(op: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The module of FBNet op index ``op`` (``FBNET_OPS``) in a layer of these channels and stride."""
    params = FBNET_OP_PARAMS[op]
    if params is None:
        return Skip(c_in, c_out, stride)
    return ConvBlock(c_in, c_out, params.expansion, params.kernel, stride, params.group)


def conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    """Conv (no bias, same padding) + BN + ReLU: FBNet's stem and header."""
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2,
                                                    bias=False),
                                     bn=nn.BatchNorm2d(c_out), relu=nn.ReLU()))


def _as_op_indices(ops: Arch | Sequence[int | str]) -> tuple[int, ...]:
    if isinstance(ops, Arch):
        if ops.space != "fbnet":
            raise InvalidArchError(f"architecture of space {ops.space!r} given to the FBNet network")
        ops = ops.ops
    if isinstance(ops, str):
        raise InvalidArchError("FBNetNetwork takes a sequence of op indices or names, not a string")
    out = []
    for pos, o in enumerate(ops):
        if isinstance(o, str):
            if o not in FBNET_OPS:
                raise InvalidArchError(
                    f"fbnet: unknown op {o!r} at position {pos}; accepted: {', '.join(FBNET_OPS)}"
                )
            out.append(FBNET_OPS.index(o))
        else:
            try:
                i = int(o)
            except (TypeError, ValueError):
                raise InvalidArchError(f"fbnet: op {o!r} at position {pos} is not an index or name") from None
            if not 0 <= i < len(FBNET_OPS):
                raise InvalidArchError(
                    f"fbnet: op index {i} at position {pos} is out of range; accepted: 0..{len(FBNET_OPS) - 1}"
                )
            out.append(i)
    if len(out) != FBNET_NUM_LAYERS:
        raise InvalidArchError(f"fbnet: architecture has {len(out)} ops, expected {FBNET_NUM_LAYERS}")
    return tuple(out)


class FBNetNetwork(nn.Module):
    """The HW-NAS-Bench FBNet network for 22 ops (indices, names or an ``Arch``).

    ``dataset`` ("cifar100" or "ImageNet") fixes the skeleton; ``num_classes`` overrides its class
    count. ``forward`` returns logits.
    """

    def __init__(
        self,
        ops: Arch | Sequence[int | str],
        dataset: str | FBNetConfig = "cifar100",
        num_classes: int | None = None,
        in_channels: int = 3,
    ):
        super().__init__()
        cfg = fbnet_config(dataset)
        self.config = cfg
        self.dataset = cfg.dataset
        self.ops = _as_op_indices(ops)
        self.num_classes = cfg.num_classes if num_classes is None else int(num_classes)

        self.stem = conv_bn_relu(in_channels, cfg.stem_channels, 3, cfg.stem_stride)
        self.layers = nn.ModuleList(fbnet_op(op, spec.c_in, spec.c_out, spec.stride)
                                    for op, spec in zip(self.ops, fbnet_layers(cfg)))
        self.header = conv_bn_relu(cfg.stage_channels[-1], cfg.header_channels, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cfg.header_channels, self.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Conv: Kaiming normal (fan_out); BN: weight 1, bias 0; Linear: normal(std 0.001), bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.001)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled header features, shape [N, header_channels]."""
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        x = self.header(x)
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def extra_repr(self) -> str:
        return f"dataset={self.dataset!r}, ops=[{', '.join(FBNET_OPS[o] for o in self.ops)}]"
