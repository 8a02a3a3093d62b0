"""Build a network from a space for domain data, and save/load a trained one as a self-contained ``model.pt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, get_space
from archscout.train._augment import Classifier

FORMAT = "archscout.train.model/1"


def build_net(space: str, arch: Arch, net: dict[str, Any], num_classes: int, in_channels: int) -> nn.Module:
    """``space.build`` with the data's class and channel counts; a bad network setting is a one-line error."""
    if "auxiliary" in net:
        raise ArchscoutError("net setting 'auxiliary' is not supported by the trainer (plain logits only)")
    try:
        return get_space(space).build(arch, num_classes=num_classes, in_channels=in_channels, **net)
    except TypeError as exc:
        raise ArchscoutError(f"bad network settings {net} for space {space!r}: {exc}") from None


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(path: Path, model: Classifier, info: dict[str, Any]) -> None:
    """Write the weights with what rebuilds them: ``info`` holds space, arch, net, classes, in_channels."""
    from archscout._rundir import atomic_save

    atomic_save({"format": FORMAT, **info, "state_dict": model.state_dict()}, Path(path))


def load_model(path: str | Path) -> Classifier:
    """The model saved by ``archscout train`` (``model.pt``), in eval mode; it takes images in [0, 1]
    (normalization included) and returns logits. ``model.info`` holds arch, space, classes, selection.

    Example:
        >>> model = load_model("runs/my-run/model.pt")  # doctest: +SKIP
        >>> model(torch.rand(1, 3, 16, 16)).argmax(1)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ArchscoutError(f"no model file at {path}")
    try:
        obj = torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file is the same user error)
        raise ArchscoutError(f"{path} is not a readable model file: {str(exc).splitlines()[0]}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ArchscoutError(f"{path} is not an archscout model file (expected format {FORMAT})")
    space = get_space(obj["space"])
    net = build_net(obj["space"], space.parse(obj["arch"]), obj["net"], len(obj["classes"]), obj["in_channels"])
    model = Classifier(net, obj["mean"], obj["std"])
    model.load_state_dict(obj["state_dict"])
    model.eval()
    model.info = {k: v for k, v in obj.items() if k != "state_dict"}
    return model
