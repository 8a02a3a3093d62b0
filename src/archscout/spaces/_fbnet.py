"""The FBNet space as used by HW-NAS-Bench: 22 layers, 9 candidate blocks each.

An architecture is a vector of 22 op indices into ``FBNET_OPS``. The macro skeleton (stem, seven
stages, header) is fixed per dataset and described by ``FBNetConfig``; ``fbnet_layers`` gives the
shape of every layer (input size, channels, stride), shared by the network builder and the
hardware lookup tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.spaces._base import Arch, SearchSpace, is_int, register_space

if TYPE_CHECKING:
    from torch import nn


class FBNetOp(NamedTuple):
    """A candidate block's shape: depthwise kernel, expansion of C_in, and group count of the 1x1 convs."""

    kernel: int
    expansion: int
    group: int


FBNET_OPS: tuple[str, ...] = (
    "k3_e1",
    "k3_e1_g2",
    "k3_e3",
    "k3_e6",
    "k5_e1",
    "k5_e1_g2",
    "k5_e3",
    "k5_e6",
    "skip",
)
"""The 9 candidate blocks, in op-index order (0..8)."""

SKIP_OP = FBNET_OPS.index("skip")

_OP_RE = re.compile(r"^k(\d+)_e(\d+)(?:_g(\d+))?$")


def _parse_op_name(name: str) -> FBNetOp | None:
    if name == "skip":
        return None
    m = _OP_RE.match(name)
    assert m is not None, name
    return FBNetOp(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))


FBNET_OP_PARAMS: tuple[FBNetOp | None, ...] = tuple(_parse_op_name(n) for n in FBNET_OPS)
"""Per op index: its FBNetOp(kernel, expansion, group), or None for ``skip``."""

FBNET_DATASETS: tuple[str, ...] = ("cifar100", "ImageNet")

FBNET_NUM_LAYERS = 22
FBNET_STEM_CHANNELS = 16
FBNET_STAGE_LAYERS: tuple[int, ...] = (1, 4, 4, 4, 4, 4, 1)
FBNET_STAGE_CHANNELS: tuple[int, ...] = (16, 24, 32, 64, 112, 184, 352)

assert sum(FBNET_STAGE_LAYERS) == FBNET_NUM_LAYERS


def fbnet_op(op: int | str) -> FBNetOp | None:
    """The FBNetOp of an op index or name (None for ``skip``)."""
    if isinstance(op, str):
        if op not in FBNET_OPS:
            raise UnknownNameError("op", op, FBNET_OPS)
        return FBNET_OP_PARAMS[FBNET_OPS.index(op)]
    if not 0 <= int(op) < len(FBNET_OPS):
        raise InvalidArchError(f"fbnet: op index {op} is out of range; accepted: 0..{len(FBNET_OPS) - 1}")
    return FBNET_OP_PARAMS[int(op)]


@dataclass(frozen=True, slots=True)
class FBNetConfig:
    """The fixed macro skeleton of the FBNet network for one dataset."""

    dataset: str
    num_classes: int
    input_size: int
    stem_stride: int
    stage_strides: tuple[int, ...]
    header_channels: int
    stem_channels: int = FBNET_STEM_CHANNELS
    stage_layers: tuple[int, ...] = FBNET_STAGE_LAYERS
    stage_channels: tuple[int, ...] = FBNET_STAGE_CHANNELS


_CONFIGS: dict[str, FBNetConfig] = {
    "cifar100": FBNetConfig(
        dataset="cifar100",
        num_classes=100,
        input_size=32,
        stem_stride=1,
        stage_strides=(1, 1, 2, 2, 1, 2, 1),
        header_channels=1504,
    ),
    "ImageNet": FBNetConfig(
        dataset="ImageNet",
        num_classes=1000,
        input_size=224,
        stem_stride=2,
        stage_strides=(1, 2, 2, 2, 1, 2, 1),
        header_channels=1984,
    ),
}


def fbnet_config(dataset: str | FBNetConfig) -> FBNetConfig:
    """The skeleton for ``"cifar100"`` or ``"ImageNet"`` (case matters, as in HW-NAS-Bench)."""
    if isinstance(dataset, FBNetConfig):
        return dataset
    try:
        return _CONFIGS[dataset]
    except (KeyError, TypeError):
        raise UnknownNameError("dataset", dataset, FBNET_DATASETS) from None


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One of the 22 searchable layers: spatial size entering it (H = W), channels and stride."""

    h: int
    c_in: int
    c_out: int
    stride: int


def fbnet_layers(dataset: str | FBNetConfig = "cifar100") -> list[LayerSpec]:
    """The 22 layer shapes for a dataset, in order.

    The first layer of each stage takes the previous stage's out channels (the stem width for
    stage 0) and the stage stride; the others keep the channels and use stride 1. ``h`` is the
    spatial size entering the layer (after the stem: input_size // stem_stride).
    """
    cfg = fbnet_config(dataset)
    h = cfg.input_size // cfg.stem_stride
    c_prev = cfg.stem_channels
    out: list[LayerSpec] = []
    for n_layers, c_out, stride in zip(cfg.stage_layers, cfg.stage_channels, cfg.stage_strides):
        for i in range(n_layers):
            s = stride if i == 0 else 1
            out.append(LayerSpec(h=h, c_in=c_prev, c_out=c_out, stride=s))
            h //= s
            c_prev = c_out
    return out


def fbnet_output_size(dataset: str | FBNetConfig = "cifar100") -> int:
    """Spatial size leaving the last layer (entering the header)."""
    last = fbnet_layers(dataset)[-1]
    return last.h // last.stride


_SPLIT_RE = re.compile(r"[,\s]+")
_BRACKETS = {"[": "]", "(": ")", "{": "}"}


@register_space("fbnet")
class FBNetSpace(SearchSpace):
    """FBNet (HW-NAS-Bench): 22 layers, each one of ``FBNET_OPS``; 9**22 architectures.

    String form: the 22 op names separated by single spaces. ``from_str`` also accepts commas,
    op indices (0..8), quoted names and surrounding brackets, e.g. ``"[0, 0, ..., 8]"``.
    """

    name = "fbnet"
    choices = (len(FBNET_OPS),) * FBNET_NUM_LAYERS

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"layer_{i:02d}" for i in range(FBNET_NUM_LAYERS))

    def op_names(self, arch: Arch) -> list[str]:
        """The 22 op names of an architecture (HW-NAS-Bench's ``arch_str``)."""
        return [FBNET_OPS[o] for o in self.parse(arch).ops]

    def to_str(self, arch: Arch) -> str:
        return " ".join(self.op_names(arch))

    def from_str(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InvalidArchError(f"fbnet: expected a string of op names, got {type(text).__name__}")
        body = text.strip()
        if body and body[0] in _BRACKETS:
            if not body.endswith(_BRACKETS[body[0]]):
                raise InvalidArchError(f"fbnet: unbalanced bracket in architecture string {text!r}")
            body = body[1:-1]
        tokens = [t for t in _SPLIT_RE.split(body) if t]
        if len(tokens) != FBNET_NUM_LAYERS:
            raise InvalidArchError(
                f"fbnet: architecture string has {len(tokens)} ops, expected {FBNET_NUM_LAYERS} "
                f"(op names {', '.join(FBNET_OPS)} or indices 0..{len(FBNET_OPS) - 1})"
            )
        ops = []
        for pos, tok in enumerate(tokens):
            t = tok.strip("'\"")
            if is_int(t) and int(t) < len(FBNET_OPS):
                ops.append(int(t))
            elif t in FBNET_OPS:
                ops.append(FBNET_OPS.index(t))
            else:
                raise InvalidArchError(
                    f"fbnet: unknown op {tok!r} at position {pos}; accepted: "
                    f"{', '.join(FBNET_OPS)} or indices 0..{len(FBNET_OPS) - 1}"
                )
        return Arch(self.name, tuple(ops))

    def layers(self, dataset: str | FBNetConfig = "cifar100") -> list[LayerSpec]:
        """The layer shapes (see ``fbnet_layers``)."""
        return fbnet_layers(dataset)

    def build(
        self,
        arch: Any,
        dataset: str = "cifar100",
        num_classes: int | None = None,
        in_channels: int = 3,
    ) -> "nn.Module":
        """The FBNetNetwork of an architecture for ``dataset`` ("cifar100" or "ImageNet")."""
        from archscout.nn._fbnet import FBNetNetwork

        return FBNetNetwork(
            self.parse(arch).ops, dataset=dataset, num_classes=num_classes, in_channels=in_channels
        )
