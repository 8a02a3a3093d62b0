"""GDAS (Dong & Yang, CVPR 2019) on NB201, algorithms.md §6: per edge a Gumbel-softmax sample with
temperature tau, one op computed per edge, straight-through weights ``one_hot - stopgrad(p) + p`` so
that every alpha entry gets a gradient; tau decays linearly per epoch from tau_max to tau_min."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from archscout.exceptions import ArchscoutError
from archscout.oneshot._base import PAPER_NB201, OneShotConfig, OneShotMethod, SearchState, register_method


@dataclass(frozen=True)
class GDASConfig(OneShotConfig):
    """GDAS settings: the shared ones plus the temperature range (linear per epoch, 10 -> 0.1)."""

    tau_max: float = 10.0
    tau_min: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.tau_min <= self.tau_max:
            raise ArchscoutError(f"need 0 < tau_min <= tau_max; got {self.tau_min}, {self.tau_max}")


def gumbel_straight_through(alpha: torch.Tensor, tau: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One GDAS sample per row: (straight-through weights, chosen op ids); re-drawn on inf/NaN. The noise is
    drawn on the CPU (``gen``) and moved to alpha's device; the finiteness check reads the device (it decides
    a re-draw)."""
    while True:
        noise = torch.empty(alpha.shape, dtype=alpha.dtype).exponential_(generator=gen)
        gumbel = -noise.to(alpha.device).log()
        probs = ((alpha.log_softmax(-1) + gumbel) / tau).softmax(-1)
        if bool(torch.isfinite(gumbel).all() and torch.isfinite(probs).all()):
            break
    index = probs.argmax(-1)
    hard = F.one_hot(index, alpha.shape[-1]).to(probs.dtype)
    return hard - probs.detach() + probs, index


@register_method("gdas")
class GDAS(OneShotMethod):
    """GDAS: a fresh Gumbel sample for every step (weights and architecture)."""

    spaces = ("nb201", "darts")
    config_class = GDASConfig
    profiles = {"cpu": {"epochs": 20}, "paper": {**PAPER_NB201, "epochs": 240}}

    @staticmethod
    def tau(config: GDASConfig, epoch: int) -> float:
        """tau of a 1-based epoch: tau_max at the first, tau_min at the last (linear)."""
        frac = (epoch - 1) / (config.epochs - 1) if config.epochs > 1 else 0.0
        return config.tau_min + (config.tau_max - config.tau_min) * (1.0 - frac)

    def begin_epoch(self, state: SearchState) -> None:
        state.extra["tau"] = self.tau(state.config, state.epoch)

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        weights, index = gumbel_straight_through(state.alpha, state.extra["tau"], state.generator)
        return {"weights": weights, "index": index}

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        return {"tau": state.extra["tau"], **super().epoch_record(state)}
