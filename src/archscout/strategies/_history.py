"""What a strategy sees: the archs already asked for and the finished evaluations.

Strategies are pure functions of a History (plus their own random generator), so the same code
runs inside an Optuna study (the sampler rebuilds the History from the study's trials, which makes
resume and several workers free) and in the benchmark's simulated loop (which appends to a
History directly, thousands of times faster than a study).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace

INFEASIBLE = -1e18  # score offset of an arch that violates a constraint (below any feasible score)


@dataclass(frozen=True)
class Observation:
    """One finished evaluation: objective values in the study's directions, largest constraint violation."""

    arch: Arch
    values: tuple[float, ...]
    violation: float = 0.0

    @property
    def feasible(self) -> bool:
        return self.violation <= 0


class History:
    """Finished observations (in order) and pending archs (asked for, not finished) of one search."""

    def __init__(self, space: SearchSpace, directions: Sequence[str] = ("maximize",)):
        bad = [d for d in directions if d not in ("maximize", "minimize")]
        if not directions or bad:
            raise ArchscoutError(f"directions {list(directions)!r}: each must be 'maximize' or 'minimize'")
        self.space = space
        self.directions = tuple(directions)
        self.signs = tuple(1.0 if d == "maximize" else -1.0 for d in self.directions)
        self.observations: list[Observation] = []
        self.pending: set[Arch] = set()
        self._done: set[Arch] = set()  # archs of finished evaluations, failed ones included
        self._best: dict[Arch, float] = {}

    @property
    def n_objectives(self) -> int:
        return len(self.directions)

    @property
    def taken(self) -> set[Arch]:
        """Every arch asked for so far, finished, failed or pending (treat as read-only)."""
        return self._done | self.pending if self.pending else self._done

    def add(self, arch: Arch, values: Sequence[float] | float, violation: float = 0.0) -> Observation:
        values = (float(values),) if isinstance(values, (int, float)) else tuple(map(float, values))
        obs = Observation(arch, values, float(violation))
        self.observations.append(obs)
        self._done.add(arch)
        self.pending.discard(arch)
        if self.n_objectives == 1:
            s = self.score(obs)
            if s > self._best.get(arch, -math.inf):
                self._best[arch] = s
        return obs

    def add_failed(self, arch: Arch) -> None:
        """An arch whose evaluation failed: never proposed again, never scored."""
        self._done.add(arch)
        self.pending.discard(arch)

    def score(self, obs: Observation) -> float:
        """Single objective, higher is better; infeasible observations rank below every feasible one."""
        s = self.signs[0] * obs.values[0]
        return s if obs.violation <= 0 else INFEASIBLE - obs.violation

    def scores(self) -> dict[Arch, float]:
        """Best score of every evaluated arch (one objective): the map strategies rank by."""
        if self.n_objectives != 1:
            raise ArchscoutError(
                f"this strategy optimizes one objective but the search has {self.n_objectives}; use a "
                "multi-objective strategy (e.g. 'random', 'mo-ls' or 'optuna-nsga2')")
        return self._best

    def minimized(self, obs: Observation) -> tuple[float, ...]:
        """The observation's values turned into all-minimize form (for Pareto dominance)."""
        return tuple(-s * v for s, v in zip(self.signs, obs.values))
