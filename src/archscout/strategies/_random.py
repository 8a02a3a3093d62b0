"""Random search, with and without replacement: the simplest strategy and the template for others."""

from __future__ import annotations

import itertools
from collections.abc import Container

import numpy as np

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, register_strategy
from archscout.strategies._history import History

_DRAWS = 1000  # rejection draws before enumerating what is left (small spaces) or giving up
_ENUMERABLE = 200_000  # spaces up to this size are enumerated when rejection sampling fails


def sample_new(space: SearchSpace, rng: np.random.Generator, taken: Container[Arch]) -> Arch:
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

    multi_objective = True

    def __init__(self, space: SearchSpace, seed: int | None = None, replace: bool = True):
        super().__init__(space, seed)
        self.replace = replace

    def propose(self, history: History) -> Arch:
        if self.replace:
            return self.space.sample(self._rng)
        return sample_new(self.space, self._rng, history.taken)


@register_strategy("random-noreplace")
class NoReplaceRandomSampler(RandomArchSampler):
    """Random search without replacement: skips every arch of the study's trials, running ones included."""

    def __init__(self, space: SearchSpace, seed: int | None = None):
        super().__init__(space, seed, replace=False)
