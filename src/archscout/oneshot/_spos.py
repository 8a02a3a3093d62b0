"""SPOS (single path one-shot, Guo et al., ECCV 2020) on NB201: the supernet is trained on uniformly
sampled single paths (one op per edge, a fresh path each step), then candidate archs are scored by
their accuracy on the architecture half with the trained shared weights, and the best is returned.

Scoring uses batch statistics (BN in training mode, the running statistics restored afterwards): the
usual per-candidate BN recalibration of SPOS, because the supernet's running statistics mix all paths.
With a cost target, only archs whose true cost meets it are candidates. The reported distribution is
the per-edge op frequency among the top ``top_fraction`` of the scored candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from archscout.exceptions import ArchscoutError
from archscout.oneshot._base import (PAPER_NB201, Halves, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     register_method)
from archscout.spaces import Arch, get_space


@dataclass(frozen=True)
class SPOSConfig(OneShotConfig):
    """SPOS settings: the shared ones (no architecture step) plus the candidate search.

    Args:
        candidates: archs sampled uniformly without replacement and scored after training.
        eval_batch_size: images per forward when scoring (batch statistics: keep it large).
        top_fraction: share of the best candidates whose op frequencies form the distribution.
    """

    candidates: int = 100
    eval_batch_size: int = 256
    top_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("candidates", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArchscoutError(f"{name} {v!r} must be a positive integer")
        if not 0 < self.top_fraction <= 1:
            raise ArchscoutError(f"top_fraction {self.top_fraction!r} must be in (0, 1]")


@register_method("spos")
class SPOS(OneShotMethod):
    """Uniform single-path supernet training, then random search over the trained supernet."""

    config_class = SPOSConfig
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def init_arch(self, state: SearchState) -> None:
        """No architecture parameters: paths are uniform."""

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        n_edges, n_ops = state.supernet.alpha_shape
        return {"index": torch.randint(n_ops, (n_edges,), generator=state.generator)}

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats | None:
        return None

    def distribution(self, state: SearchState) -> np.ndarray:
        shape = state.supernet.alpha_shape
        return np.asarray(state.extra.get("distribution", np.full(shape, 1.0 / shape[-1])), dtype=np.float64)

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        sp = get_space(space)
        pool = np.arange(sp.size)
        if state.cost is not None and state.cost.target is not None:
            pool = np.flatnonzero(state.cost.true_costs() <= state.cost.target)
        k = min(state.config.candidates, len(pool))
        picks = pool[torch.randperm(len(pool), generator=state.generator)[:k].numpy()]
        scores = self._scores(state, [sp.from_index(int(i)) for i in picks], halves)
        order = np.argsort(-np.asarray(scores), kind="stable")
        top = order[:max(1, math.ceil(state.config.top_fraction * k))]
        freq = np.zeros(state.supernet.alpha_shape)
        for i in top:
            freq[np.arange(freq.shape[0]), list(sp.from_index(int(picks[i])).ops)] += 1.0 / len(top)
        state.extra["distribution"] = freq.tolist()
        ranked = [{"arch": sp.to_str(sp.from_index(int(picks[i]))), "index": int(picks[i]), "acc": scores[i]}
                  for i in order]
        return sp.from_index(int(picks[order[0]])), {"scored": k, "candidates": ranked}

    @torch.no_grad()
    def _scores(self, state: SearchState, archs: list[Arch], halves: Halves) -> list[float]:
        """Accuracy (%) of each arch on the architecture half, with BN batch statistics."""
        net, b = state.supernet, state.config.eval_batch_size
        saved = {k: v.clone() for k, v in net.state_dict().items()}
        net.train()
        out = []
        for arch in archs:
            index = torch.tensor(arch.ops)
            correct = sum(int((net(halves.x_a[i:i + b], index=index).argmax(1) == halves.y_a[i:i + b]).sum())
                          for i in range(0, len(halves.y_a), b))
            out.append(100.0 * correct / len(halves.y_a))
        net.load_state_dict(saved)
        return out
