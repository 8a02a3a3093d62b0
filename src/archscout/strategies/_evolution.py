"""Regularized evolution (Real et al., AAAI 2019): tournament selection in an aging population."""

from __future__ import annotations

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, register_strategy
from archscout.strategies._history import History
from archscout.strategies._random import sample_new


@register_strategy("rea")
class RegularizedEvolutionSampler(ArchSampler):
    """Regularized (aging) evolution.

    The population is the last ``population_size`` completed trials (trial order), so the oldest
    member leaves as each new one arrives. Until the population is full, archs are random and new.
    Then ``sample_size`` members are drawn uniformly without replacement, the best by the study's
    objective is the parent, and the child is ``space.mutate(parent)``. A child already in the
    search (finished, failed or pending) is re-mutated up to ``max_attempts`` times, then replaced
    by a random new neighbour of the parent, then by a random new arch. Everything is derived from
    the History, so the search resumes and runs on several workers as is.
    """

    def __init__(self, space: SearchSpace, seed: int | None = None, population_size: int = 50,
                 sample_size: int = 10, max_attempts: int = 20):
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise ArchscoutError(
                f"rea: need 1 <= sample_size <= population_size, got sample_size={sample_size}, "
                f"population_size={population_size}"
            )
        super().__init__(space, seed)
        self.population_size = population_size
        self.sample_size = sample_size
        self.max_attempts = max_attempts

    def propose(self, history: History) -> Arch:
        history.scores()  # checks there is one objective
        taken = history.taken
        population = history.observations[-self.population_size:]
        if len(population) < self.population_size:
            return sample_new(self.space, self._rng, taken)
        picks = self._rng.choice(len(population), size=self.sample_size, replace=False)
        parent = max((population[i] for i in sorted(picks)), key=history.score).arch
        for _ in range(self.max_attempts):
            child = self.space.mutate(parent, self._rng)
            if child not in taken:
                return child
        fresh = [a for a in self.space.neighbours(parent) if a not in taken]
        if fresh:
            return fresh[int(self._rng.integers(len(fresh)))]
        return sample_new(self.space, self._rng, taken)
