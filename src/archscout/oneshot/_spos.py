"""SPOS (single path one-shot, Guo et al., ECCV 2020) on NB201: the supernet is trained on uniformly
sampled single paths (one op per edge, a fresh path each step), then candidate archs are scored by
their accuracy on the architecture half with the trained shared weights, and the best is returned.

Scoring uses batch statistics (BN in training mode, the running statistics restored afterwards): the
usual per-candidate BN recalibration of SPOS, because the supernet's running statistics mix all paths.
With a cost target, only archs whose true cost meets it are candidates. The reported distribution is
the per-edge op frequency among the top ``top_fraction`` of the scored candidates.

Candidates come from uniform sampling without replacement (``strategy="sample"``) or from any
multi-trial strategy of ``archscout.strategies`` (``rea``, ``ls``, ``optuna-tpe``, ...) run as an
Optuna study whose objective is the supernet score; its proposals that miss the cost target are told
as failed (they count against ``50 * candidates`` proposals, not against the candidates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from archscout._accelerator import autocast
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot._base import (PAPER_NB201, Halves, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     register_method)
from archscout.spaces import Arch, SearchSpace, get_space


@dataclass(frozen=True)
class SPOSConfig(OneShotConfig):
    """SPOS settings: the shared ones (no architecture step) plus the candidate search.

    Args:
        candidates: archs sampled uniformly without replacement and scored after training.
        eval_batch_size: images per forward when scoring (batch statistics: keep it large).
        top_fraction: share of the best candidates whose op frequencies form the distribution.
        strategy: ``sample`` or a multi-trial strategy's name (``archscout.strategies.make_sampler``).
    """

    candidates: int = 100
    eval_batch_size: int = 256
    top_fraction: float = 0.1
    strategy: str = "sample"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("candidates", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArchscoutError(f"{name} {v!r} must be a positive integer")
        if not 0 < self.top_fraction <= 1:
            raise ArchscoutError(f"top_fraction {self.top_fraction!r} must be in (0, 1]")
        if self.strategy != "sample":
            from archscout.strategies import OPTUNA_SAMPLERS, list_strategies

            names = ["sample", *list_strategies(), *OPTUNA_SAMPLERS]
            if self.strategy not in names:
                raise UnknownNameError("SPOS candidate strategy", self.strategy, names)


@register_method("spos")
class SPOS(OneShotMethod):
    """Uniform single-path supernet training, then random search over the trained supernet."""

    config_class = SPOSConfig
    # algorithms.md gives no NB201 recipe for SPOS: DARTS's schedule (10 epochs on the cpu profile, 50 paper)
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def init_arch(self, state: SearchState) -> None:
        """No architecture parameters: paths are uniform."""

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        """A uniform path; the index stays on the CPU (the supernet reads it on the host)."""
        n_edges, n_ops = state.supernet.alpha_shape
        return {"index": torch.randint(n_ops, (n_edges,), generator=state.generator)}

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats | None:
        return None

    def distribution(self, state: SearchState) -> np.ndarray:
        shape = state.supernet.alpha_shape
        return np.asarray(state.extra.get("distribution", np.full(shape, 1.0 / shape[-1])), dtype=np.float64)

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        sp, cfg = get_space(space), state.config
        feasible = np.ones(sp.size, dtype=bool)
        if state.cost is not None and state.cost.target is not None:
            feasible = state.cost.true_costs() <= state.cost.target
        if cfg.strategy == "sample":
            pool = np.flatnonzero(feasible)
            picks = pool[torch.randperm(len(pool), generator=state.generator)[:cfg.candidates].numpy()].tolist()
            scores = [self._score(state, sp.from_index(i), halves) for i in picks]
        else:
            picks, scores = self._strategy(state, sp, feasible, halves)
        order = np.argsort(-np.asarray(scores), kind="stable")
        top = order[:max(1, math.ceil(cfg.top_fraction * len(picks)))]
        freq = np.zeros(state.supernet.alpha_shape)
        for i in top:
            freq[np.arange(freq.shape[0]), list(sp.from_index(picks[i]).ops)] += 1.0 / len(top)
        state.extra["distribution"] = freq.tolist()
        ranked = [{"arch": sp.to_str(sp.from_index(picks[i])), "index": picks[i], "acc": scores[i]} for i in order]
        return sp.from_index(picks[order[0]]), {"scored": len(picks), "strategy": cfg.strategy, "candidates": ranked}

    def _strategy(self, state: SearchState, sp: SearchSpace, feasible: np.ndarray,
                  halves: Halves) -> tuple[list[int], list[float]]:
        """Candidates proposed by a multi-trial strategy (an Optuna study maximizing the score)."""
        import optuna

        from archscout.strategies import make_sampler

        cfg = state.config
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(direction="maximize", sampler=make_sampler(cfg.strategy, sp, seed=cfg.seed))
            scored: dict[int, float] = {}
            for _ in range(50 * cfg.candidates):
                if len(scored) == cfg.candidates:
                    break
                trial = study.ask()
                arch = sp.make([trial.suggest_categorical(n, list(range(c)))
                                for n, c in zip(sp.param_names, sp.choices)])
                i = sp.index(arch)
                if not feasible[i]:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    continue
                if i not in scored:
                    scored[i] = self._score(state, arch, halves)
                study.tell(trial, scored[i])
        finally:
            optuna.logging.set_verbosity(verbosity)
        return list(scored), list(scored.values())

    @torch.no_grad()
    def _score(self, state: SearchState, arch: Arch, halves: Halves) -> float:
        """Accuracy (%) of an arch on the architecture half, with BN batch statistics (buffers restored)."""
        net, b = state.supernet, state.config.eval_batch_size
        saved = {k: v.clone() for k, v in net.named_buffers()}
        net.train()
        index = torch.tensor(arch.ops)
        correct = torch.zeros((), dtype=torch.long, device=halves.y_a.device)
        with autocast(state.device, state.config.precision):
            for i in range(0, len(halves.y_a), b):
                correct += (net(halves.x_a[i:i + b], index=index).argmax(1) == halves.y_a[i:i + b]).sum()
        for k, v in net.named_buffers():
            v.copy_(saved[k])
        return 100.0 * int(correct) / len(halves.y_a)  # one host synchronisation per candidate
