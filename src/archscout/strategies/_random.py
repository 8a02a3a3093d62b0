"""Random search, with and without replacement: the simplest strategy and the template for others."""

from __future__ import annotations

import itertools

import numpy as np
import optuna

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, arch_from_params, register_strategy

_DRAWS = 1000  # rejection draws before enumerating what is left (small spaces) or giving up
_ENUMERABLE = 200_000  # spaces up to this size are enumerated when rejection sampling fails
_UNSEEN = object()


class StudyArchs:
    """The archs of a study's trials, each finished trial's read once (finished trials never change)."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self._study: str | None = None
        self._finished: dict[int, Arch | None] = {}

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial
                 ) -> tuple[set[Arch], list[tuple[Arch, optuna.trial.FrozenTrial]]]:
        """(archs of every trial but ``trial``, whatever its state; (arch, trial) of the complete ones)."""
        if study.study_name != self._study:
            self._study, self._finished = study.study_name, {}
        taken, completed = set(), []
        for t in study.get_trials(deepcopy=False):
            arch = self._finished.get(t.number, _UNSEEN)
            if arch is _UNSEEN:
                arch = arch_from_params(self.space, t.params)
                if t.state.is_finished():
                    self._finished[t.number] = arch
            if arch is not None and t.number != trial.number:
                taken.add(arch)
                if t.state == optuna.trial.TrialState.COMPLETE:
                    completed.append((arch, t))
        return taken, completed


def sample_new(space: SearchSpace, rng: np.random.Generator, taken: set[Arch]) -> Arch:
    """A uniformly random arch not in ``taken``; ArchscoutError when none is left."""
    for _ in range(_DRAWS):
        arch = space.sample(rng)
        if arch not in taken:
            return arch
    if space.size is not None and space.size <= _ENUMERABLE:
        rest = [a for ops in itertools.product(*map(range, space.choices))
                if space.is_valid(ops) and (a := Arch(space.name, ops)) not in taken]
        if rest:
            return rest[int(rng.integers(len(rest)))]
        raise ArchscoutError(
            f"space {space.name!r} is exhausted: all {space.size} architectures are in the study")
    raise ArchscoutError(
        f"space {space.name!r} looks exhausted: {_DRAWS} random draws found no new architecture")


@register_strategy("random")
class RandomArchSampler(ArchSampler):
    """Uniform random architectures; with ``replace=False`` never one already in the study."""

    def __init__(self, space: SearchSpace, seed: int | None = None, replace: bool = True):
        super().__init__(space, seed)
        self.replace = replace
        self._archs = StudyArchs(space)

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Arch:
        if self.replace:
            return self.space.sample(self._rng)
        return sample_new(self.space, self._rng, self._archs(study, trial)[0])


@register_strategy("random-noreplace")
class NoReplaceRandomSampler(RandomArchSampler):
    """Random search without replacement: skips every arch of the study's trials, running ones included."""

    def __init__(self, space: SearchSpace, seed: int | None = None):
        super().__init__(space, seed, replace=False)
