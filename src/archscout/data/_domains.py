"""Data organized in domains (environments): a domain's tensors, a train/test split of domains, and
the stratified in/out holdout every domain gets (DomainBed's protocol: 80 % to train, 20 % to validate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archscout.exceptions import ArchscoutError, ArchscoutWarning, UnknownNameError


class DatasetError(ArchscoutError):
    """A dataset that is missing, corrupted or inconsistent (the message says what and how to fix it)."""


class DatasetWarning(ArchscoutWarning):
    """Data used with a caveat (images left out of an evaluation, and why)."""


@dataclass(frozen=True)
class Domain:
    """One environment: images ``x`` (N, C, H, W) float32 in [0, 1] and labels ``y`` (N,) int64."""

    name: str
    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DatasetError(f"domain {self.name!r} has {len(self.x)} images but {len(self.y)} labels")
        if len(self.y) == 0:
            raise DatasetError(f"domain {self.name!r} is empty")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray | torch.Tensor) -> "Domain":
        index = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return Domain(self.name, self.x[index], self.y[index])

    def to(self, device: "torch.device | str") -> "Domain":
        """The domain with its tensors on ``device`` (itself when already there)."""
        if self.x.device == torch.device(device):
            return self
        return Domain(self.name, self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class Split:
    """Which domains a model trains on and which it is tested on (never seen in training)."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.train or not self.test:
            raise DatasetError(f"split {self.name!r} needs at least one training and one test domain")
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise DatasetError(f"split {self.name!r}: domains {sorted(overlap)} are both training and test domains")


@dataclass
class DomainData:
    """The domains of one split, loaded: what trainers and shift metrics consume."""

    name: str  # the suite's versioned id or the folder dataset's name
    classes: tuple[str, ...]
    domains: dict[str, Domain]
    split: Split
    meta: dict[str, Any] = field(default_factory=dict)  # seed, image size, counts: goes into results

    @property
    def train(self) -> list[Domain]:
        return [self.domains[d] for d in self.split.train]

    @property
    def test(self) -> list[Domain]:
        return [self.domains[d] for d in self.split.test]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(next(iter(self.domains.values())).x.shape[1:])  # type: ignore[return-value]

    def domain(self, name: str) -> Domain:
        try:
            return self.domains[name]
        except KeyError:
            raise UnknownNameError(f"domain of {self.name}", name, self.domains) from None


def holdout(y: torch.Tensor | np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(in, out)``: a class-stratified random ``fraction`` held out (at least one per class
    with two or more samples), deterministic given ``seed``."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        out.append(idx[:k])
    out_idx = np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)
    in_idx = np.setdiff1d(np.arange(len(y)), out_idx)
    return in_idx, out_idx
