"""Every registered strategy meets the sampler contract on NB201; random, REA and LS specifics."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import optuna
import pytest

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import get_cost_model
from archscout.spaces import Arch, SearchSpace, get_space
from archscout.strategies import (
    ArchSampler, LocalSearchSampler, arch_from_params, create_strategy, list_strategies,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

NB201 = get_space("nb201")
FBNET = get_space("fbnet")
SEEDS = range(10)
BUDGET = 150


def is_random(name: str) -> bool:
    return name.startswith("random")


def objective_for(space: SearchSpace, score):
    """An objective that suggests every position as a user would, and returns score(arch)."""

    def objective(trial: optuna.Trial) -> float:
        params = {n: trial.suggest_categorical(n, list(range(k)))
                  for n, k in zip(space.param_names, space.choices)}
        return score(space.make([params[n] for n in space.param_names]))

    return objective


@lru_cache(maxsize=None)
def nb201_valid() -> np.ndarray:
    return get_cost_model("nb201", "cifar10").column("valid_acc")


def nb201_objective():
    acc = nb201_valid()
    return objective_for(NB201, lambda arch: float(acc[NB201.index(arch)]))


def archs_of(study: optuna.Study, space: SearchSpace = NB201) -> list[Arch]:
    return [arch_from_params(space, t.params) for t in study.trials]


def run(sampler, n_trials: int, objective=None, direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(sampler=sampler, direction=direction)
    study.optimize(objective or nb201_objective(), n_trials=n_trials)
    return study


@lru_cache(maxsize=None)
def mean_best(name: str) -> float:
    """Mean over SEEDS of the best NB201 CIFAR-10 valid accuracy after BUDGET queries."""
    return float(np.mean([run(create_strategy(name, NB201, seed=s), BUDGET).best_value for s in SEEDS]))


# -- contract, every strategy ---------------------------------------------------------------------
def test_registry():
    assert {"random", "random-noreplace", "rea", "ls"} <= set(list_strategies())
    with pytest.raises(UnknownNameError, match="unknown strategy 'lss'"):
        create_strategy("lss", NB201)


@pytest.mark.parametrize("name", list_strategies())
def test_contract(name):
    sampler = create_strategy(name, NB201, seed=0)
    assert isinstance(sampler, optuna.samplers.BaseSampler)
    proposed = []
    if isinstance(sampler, ArchSampler):  # record what the strategy proposes
        propose = sampler.propose
        sampler.propose = lambda history: proposed.append(propose(history)) or proposed[-1]
    study = run(sampler, 100)
    archs = archs_of(study)
    assert len(archs) == 100 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert all(a is not None and NB201.make(a.ops) == a for a in archs)
    if isinstance(sampler, ArchSampler):
        assert archs == proposed  # every trial runs the strategy's arch, not a fallback's
    again = archs_of(run(create_strategy(name, NB201, seed=0), 100))
    assert again == archs  # same seed, same sequence
    if not getattr(sampler, "deterministic", False):  # 'prior': one order, whatever the seed
        assert archs_of(run(create_strategy(name, NB201, seed=1), 100)) != archs
    if not is_random(name):
        assert archs_of(run(optuna.samplers.RandomSampler(seed=0), 100)) != archs


@pytest.mark.parametrize("name", [n for n in list_strategies() if not is_random(n)])
def test_beats_random(name):
    assert mean_best(name) > mean_best("random")


# -- random ---------------------------------------------------------------------------------------
def test_noreplace_never_repeats():
    archs = archs_of(run(create_strategy("random-noreplace", NB201, seed=0), 300))
    assert len(set(archs)) == 300


class Tiny(SearchSpace):
    """Four archs: small enough to exhaust."""

    name = "tiny"
    choices = (2, 2)

    def to_str(self, arch):
        return str(arch.ops)

    def from_str(self, text):
        return self.make(int(c) for c in text if c.isdigit())

    def build(self, arch, **net_cfg):
        raise NotImplementedError


@pytest.mark.parametrize("name", ["random-noreplace", "rea", "ls"])
def test_exhausted_space(name):
    tiny = Tiny()
    study = optuna.create_study(sampler=create_strategy(name, tiny, seed=0))
    study.optimize(objective_for(tiny, lambda a: float(sum(a.ops))), n_trials=4)
    assert len(set(archs_of(study, tiny))) == 4
    with pytest.raises(ArchscoutError, match="space 'tiny' is exhausted: all 4 architectures are in the"):
        study.optimize(objective_for(tiny, lambda a: 0.0), n_trials=1)


# -- state comes from the study: running trials, several samplers, resume --------------------------
@pytest.mark.parametrize("name", ["random-noreplace", "rea", "ls"])
def test_no_duplicates_with_running_trials_and_resume(name):
    kwargs = {"population_size": 10, "sample_size": 3} if name == "rea" else {}
    study = run(create_strategy(name, NB201, seed=0, **kwargs), 40)
    acc = nb201_valid()
    running = []
    for seed in (1, 2):  # two "workers", each its own sampler, trials asked before any is told
        study.sampler = create_strategy(name, NB201, seed=seed, **kwargs)
        for _ in range(3):
            trial = study.ask()
            running.append((trial, NB201.make([trial.suggest_categorical(n, list(range(5)))
                                               for n in NB201.param_names])))
    for trial, arch in running:
        study.tell(trial, float(acc[NB201.index(arch)]))
    study.optimize(nb201_objective(), n_trials=60)  # resumed by the last sampler
    archs = archs_of(study)
    assert len(archs) == 106 and len(set(archs)) == 106


def test_ls_cache_matches_fresh_sampler():
    sampler = create_strategy("ls", NB201, seed=3)
    study = run(sampler, 120)
    fresh = LocalSearchSampler(NB201, seed=0)
    fresh._rng = np.random.default_rng(7)
    sampler._rng = np.random.default_rng(7)
    assert fresh.propose(fresh.history(study)) == sampler.propose(sampler.history(study))


def test_ls_climbs_to_local_optimum():
    """LS visits every neighbour of the first local optimum it reaches before restarting."""
    study = run(create_strategy("ls", NB201, seed=0), 150)
    acc = nb201_valid()
    archs = archs_of(study)
    seen = set(archs)
    value = {a: acc[NB201.index(a)] for a in archs}
    optima = [a for a in archs if all(n in seen and value[n] <= value[a] for n in NB201.neighbours(a))]
    assert optima and max(value.values()) == value[max(optima, key=value.get)]


# -- single objective only, minimization, FBNet --------------------------------------------------------
@pytest.mark.parametrize("name", ["rea", "ls"])
def test_multi_objective_rejected(name):
    sampler = create_strategy(name, NB201, seed=0)
    study = optuna.create_study(sampler=sampler, directions=["maximize", "minimize"])
    with pytest.raises(ArchscoutError, match="optimizes one objective but the search has 2"):
        study.optimize(lambda t: (objective_for(NB201, lambda a: 0.0)(t), 0.0), n_trials=1)


@pytest.mark.parametrize("name", ["rea", "ls"])
def test_fbnet_latency(name):
    lut = get_cost_model("fbnet", "cifar100")

    def latency(arch: Arch) -> float:
        return float(lut.query_many([arch], ["raspi4_latency"])["raspi4_latency"].iloc[0])

    kwargs = {"population_size": 20, "sample_size": 5} if name == "rea" else {}
    best = {}
    for strategy, kw in ((name, kwargs), ("random", {})):
        sampler = create_strategy(strategy, FBNET, seed=0, **kw)
        study = run(sampler, 120, objective_for(FBNET, latency), "minimize")
        archs = archs_of(study, FBNET)
        assert [t.value for t in study.trials] == [latency(a) for a in archs]  # the params are the scored arch
        if strategy == name:
            assert len(set(archs)) == len(archs)
        best[strategy] = study.best_value
    assert best[name] < 0.8 * best["random"]


def test_bad_arguments():
    with pytest.raises(ArchscoutError, match="rea: need 1 <= sample_size <= population_size"):
        create_strategy("rea", NB201, population_size=5, sample_size=10)
    with pytest.raises(ArchscoutError, match="ls: n_init must be at least 1"):
        create_strategy("ls", NB201, n_init=0)
