"""DARTS, first order (DARTS-V1), on the NB201 space (algorithms.md §5): a soft mixture of all ops on
every edge, alpha trained by Adam on the architecture half. On NB201 it is known to collapse towards
parameter-free cells (all skip, index 1835): expected, reported, not hidden."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archscout.oneshot._base import PAPER_NB201, OneShotConfig, OneShotMethod, SearchState, register_method


@dataclass(frozen=True)
class DartsConfig(OneShotConfig):
    """DARTS settings: the shared ones (AutoDL's DARTS-V1 hyper-parameters); 10 epochs on the cpu profile."""


@register_method("darts")
class Darts(OneShotMethod):
    """DARTS-V1: ``weights = softmax(alpha)`` in both steps (the first-order gradient of alpha)."""

    spaces = ("nb201", "darts")
    config_class = DartsConfig
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        return {"weights": state.alpha.softmax(-1)}
