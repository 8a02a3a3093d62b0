"""What every multi-trial strategy shares: an Optuna sampler over a space's categorical positions.

A strategy is an ``optuna.samplers.BaseSampler`` that holds the SearchSpace. Optuna calls
``infer_relative_search_space`` then ``sample_relative`` at the start of each trial (we propose a
whole arch there from the study's History), ``sample_independent`` for any parameter we did not
propose. ``reseed_rng`` is called in forked workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from archscout._registry import Registry
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._history import History

_CONSTRAINTS_KEY = "constraints"  # where Optuna keeps a trial's constraint values (feasible when <= 0)


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


class ArchSampler(optuna.samplers.BaseSampler):
    """Base class of archscout's strategies: subclasses implement ``propose(history) -> Arch``.

    Positions of the space are proposed jointly (relative sampling); any other parameter a user's
    objective asks for falls back to ``independent_sampler`` (random by default). The History is
    rebuilt from the study before each proposal, reading each finished trial once.
    """

    multi_objective = False  # True for strategies that handle several objectives (Pareto search)

    def __init__(self, space: SearchSpace, seed: int | None = None):
        self.space = space
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._independent = optuna.samplers.RandomSampler(seed=seed)
        self._study_key: tuple | None = None
        self._history: History | None = None
        self._read: set[int] = set()  # numbers of the finished trials already in the history

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return dict(arch_distributions(self.space))

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if not search_space:
            return {}
        return arch_to_params(self.space, self.propose(self.history(study, trial)))

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def history(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> History:
        """The study as a History: COMPLETE trials observed, FAIL ones taken, running ones pending."""
        directions = tuple(d.name.lower() for d in study.directions)
        key = (study.study_name, id(study._storage), directions)
        if key != self._study_key:
            self._study_key, self._history, self._read = key, History(self.space, directions), set()
        history = self._history
        history.pending = set()
        for t in study.get_trials(deepcopy=False):
            if t.number in self._read or (trial is not None and t.number == trial.number):
                continue
            arch = arch_from_params(self.space, t.params)
            if t.state == TrialState.COMPLETE:
                self._read.add(t.number)
                if arch is not None:
                    history.add(arch, t.values, max(t.system_attrs.get(_CONSTRAINTS_KEY) or [0.0]))
            elif t.state.is_finished():
                self._read.add(t.number)
                if arch is not None:
                    history.add_failed(arch)
            elif arch is not None:
                history.pending.add(arch)
        history.pending -= history._done
        return history

    def propose(self, history: History) -> Arch:
        raise NotImplementedError


STRATEGIES: Registry[type] = Registry("strategy")


def register_strategy(name: str):
    """Class decorator: register a strategy (an ArchSampler subclass, or a factory) under ``name``."""
    return STRATEGIES.register(name)


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.names(pattern)


def create_strategy(name: str, space: SearchSpace, seed: int | None = None, **kwargs: Any):
    """A sampler for ``space`` by registered name, e.g. ``create_strategy("rea", space, seed=0)``."""
    return STRATEGIES.get(name)(space, seed=seed, **kwargs)
