"""The training configuration: a typed, validated dataclass with CPU-sized defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from archscout._accelerator import check_accelerator, check_precision
from archscout._rundir import RUN_ONLY, check_finite
from archscout.exceptions import ArchscoutError

# Network size per space when TrainConfig.net leaves it open: small enough for 2 CPU cores.
NET_DEFAULTS: dict[str, dict[str, Any]] = {
    "nb201": {"C": 16, "N": 1},
    "darts": {"C": 8, "layers": 5},
    "fbnet": {"dataset": "cifar100"},
}

SCHEDULES = ("cosine", "constant")
SIZES = ("C", "N", "layers")  # network sizes (channels, cells per stage, cells): integers >= 1


@dataclass(frozen=True)
class TrainConfig:
    """ERM training of one fixed architecture (SGD with Nesterov momentum, cosine schedule).

    Defaults are measured for 2 CPU cores: an NB201 cell (C=16, N=1) on fmnist-shift's correlation
    split (3,200 training images at 16x16) trains in well under 90 s. Augmentation defaults to a
    1-pixel crop and no flip: on the rotation split (10 epochs, cell 11472) a flip (which mirrors the
    rotation domains) cost 3 points in and 16 out of distribution, and a 2-pixel crop underfit.

    Args:
        epochs: passes over the training domains' ``in`` parts.
        batch_size, lr, momentum, weight_decay, nesterov: SGD settings.
        schedule: ``cosine`` (to 0 over ``epochs``, stepped per batch) or ``constant``.
        crop_padding: random crop after zero padding by this many pixels (0: no crop).
        flip: random horizontal flips.
        net: network size, merged over the space's ``NET_DEFAULTS`` (nb201: C, N).
        seed: seeds the weights, the holdout split, batch order and augmentation.
        holdout_fraction: part of every domain held out for validation (DomainBed: 0.2).
        eval_batch_size: batch size of evaluation (no effect on results).
        threads: ``torch.set_num_threads`` during training (None: leave as is).
        accelerator: compute device, ``auto`` (CUDA, then MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N``
            or ``mps``.
        precision: ``fp32``, or mixed precision ``bf16`` / ``fp16`` (autocast; fp16 with loss scaling).
        threads, accelerator and precision are not part of a run's identity (a resume may change them),
        though float sums, hence results, can differ with them.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    schedule: str = "cosine"
    crop_padding: int = 1
    flip: bool = False
    net: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    holdout_fraction: float = 0.2
    eval_batch_size: int = 500
    threads: int | None = None
    accelerator: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_accelerator(self.accelerator)
        check_precision(self.precision)
        check_finite(self)
        for name in ("epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArchscoutError(f"{name} {v!r} must be a positive integer")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ArchscoutError(f"threads {self.threads!r} must be a positive integer or None")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ArchscoutError(f"seed {self.seed!r} must be a non-negative integer")
        if not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            raise ArchscoutError(f"crop_padding {self.crop_padding!r} must be a non-negative integer")
        if not self.lr > 0:
            raise ArchscoutError(f"lr {self.lr!r} must be positive")
        if not 0 <= self.momentum < 1:
            raise ArchscoutError(f"momentum {self.momentum!r} must be in [0, 1)")
        if not self.weight_decay >= 0:
            raise ArchscoutError(f"weight_decay {self.weight_decay!r} must be non-negative")
        if not 0 < self.holdout_fraction < 1:
            raise ArchscoutError(f"holdout_fraction {self.holdout_fraction!r} must be between 0 and 1")
        if self.schedule not in SCHEDULES:
            raise ArchscoutError(f"unknown schedule {self.schedule!r}; choose from: {', '.join(SCHEDULES)}")
        if not isinstance(self.net, dict):
            raise ArchscoutError(f"net {self.net!r} must be a dict of network settings, e.g. {{'C': 16, 'N': 1}}")
        for key, v in self.net.items():
            if key in SIZES and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                # N=0 builds no searched cell at all: its figures would be credited to the arch
                raise ArchscoutError(f"net setting {key}={v!r} must be an integer >= 1 (e.g. C=16, N=1)")
            if isinstance(v, float) and not math.isfinite(v):
                raise ArchscoutError(f"net setting {key}={v!r} must be a finite number")

    def net_config(self, space: str) -> dict[str, Any]:
        """The network settings for ``space``: its defaults overridden by ``net``."""
        return {**NET_DEFAULTS.get(space, {}), **self.net}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """What a run directory is checked against: every field but the run-only ones."""
        return {k: v for k, v in asdict(self).items() if k not in RUN_ONLY}
