"""What every multi-trial strategy shares: an Optuna sampler over a space's categorical positions.

A strategy is an ``optuna.samplers.BaseSampler`` that holds the SearchSpace. Optuna calls
``infer_relative_search_space`` then ``sample_relative`` at the start of each trial (we propose a
whole arch there), ``sample_independent`` for any parameter we did not propose, and
``after_trial`` when the trial ends. ``reseed_rng`` is called in forked workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from archscout._registry import Registry
from archscout.spaces import Arch, SearchSpace


def arch_distributions(space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """Optuna distributions of the space's positions: one categorical over 0..n-1 per position."""
    return {name: CategoricalDistribution(list(range(n))) for name, n in zip(space.param_names, space.choices)}


def arch_to_params(space: SearchSpace, arch: Arch) -> dict[str, int]:
    return dict(zip(space.param_names, arch.ops))


def arch_from_params(space: SearchSpace, params: Mapping[str, Any]) -> Arch | None:
    """The Arch of a trial's params, or None when a position is missing (trial still running)."""
    try:
        return space.make([params[name] for name in space.param_names])
    except KeyError:
        return None


def completed_archs(study: optuna.Study, space: SearchSpace) -> list[tuple[Arch, optuna.trial.FrozenTrial]]:
    """(arch, trial) of every COMPLETE trial, in trial order."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        arch = arch_from_params(space, t.params)
        if arch is not None:
            out.append((arch, t))
    return out


class ArchSampler(optuna.samplers.BaseSampler):
    """Base class of archscout's strategies: subclasses implement ``propose(study, trial) -> Arch``.

    Positions of the space are proposed jointly (relative sampling); any other parameter a user's
    objective asks for falls back to ``independent_sampler`` (random by default).
    """

    def __init__(self, space: SearchSpace, seed: int | None = None):
        import numpy as np

        self.space = space
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._independent = optuna.samplers.RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        import numpy as np

        self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return dict(arch_distributions(self.space))

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if not search_space:
            return {}
        return arch_to_params(self.space, self.propose(study, trial))

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def propose(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> Arch:
        raise NotImplementedError


STRATEGIES: Registry[type] = Registry("strategy")


def register_strategy(name: str):
    """Class decorator: register a strategy (an ArchSampler subclass, or a factory) under ``name``."""

    def deco(cls):
        STRATEGIES.add(name, cls)
        return cls

    return deco


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.names(pattern)


def create_strategy(name: str, space: SearchSpace, seed: int | None = None, **kwargs: Any):
    """A sampler for ``space`` by registered name, e.g. ``create_strategy("rea", space, seed=0)``."""
    return STRATEGIES.get(name)(space, seed=seed, **kwargs)
