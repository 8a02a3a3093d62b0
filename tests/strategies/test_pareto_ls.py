"""mo-ls, the model-guided Pareto local search: reproducible, never repeats, feasible front, beats random."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import optuna
import pytest

from archscout.experiment import BenchResult, TabularTask
from archscout.hardware import get_cost_model
from archscout.spaces import get_space
from archscout.strategies import History, ParetoLocalSearchSampler, arch_from_params, create_strategy

optuna.logging.set_verbosity(optuna.logging.WARNING)

NB201 = get_space("nb201")


@lru_cache(maxsize=None)
def task(constraint: str | None = None) -> TabularTask:
    return TabularTask.create("nb201", "cifar10", ["valid_error", "latency@raspi4"],
                              [constraint] if constraint else [])


def search(t: TabularTask, seed: int, budget: int, **kwargs) -> tuple[np.ndarray, History]:
    """The rows mo-ls queries on the table, and its History."""
    sampler = create_strategy("mo-ls", t.space, seed=seed, **kwargs)
    history = History(t.space, t.directions)
    rows = []
    for _ in range(budget):
        arch = sampler.propose(history)
        r = t.row(arch)
        rows.append(r)
        history.add(arch, t.values[r], t.violation[r])
    return np.array(rows), history


def test_registered_as_multi_objective():
    sampler = create_strategy("mo-ls", NB201, seed=0)
    assert isinstance(sampler, ParetoLocalSearchSampler) and sampler.multi_objective


def test_same_seed_same_search_and_no_repeats():
    a, _ = search(task(), 0, 200)
    b, _ = search(task(), 0, 200)
    c, _ = search(task(), 1, 200)
    assert (a == b).all() and (a != c).any()
    assert len(set(a.tolist())) == 200


def test_in_a_multi_objective_study():
    err, lat = task().values.T

    def objective(trial):
        arch = NB201.make([trial.suggest_categorical(n, list(range(5))) for n in NB201.param_names])
        r = NB201.index(arch)
        return err[r], lat[r]

    def archs(seed):
        study = optuna.create_study(directions=["minimize", "minimize"],
                                    sampler=create_strategy("mo-ls", NB201, seed=seed))
        study.optimize(objective, n_trials=60)
        return [arch_from_params(NB201, t.params) for t in study.trials]

    first = archs(0)
    assert len(set(first)) == 60 and first == archs(0)


def test_front_is_feasible_only():
    """A constraint that the best-error archs break: the search keeps to the feasible side."""
    params = get_cost_model("nb201", "cifar10").column("params")
    t = task(f"params<={float(np.quantile(params, 0.15))!r}")
    feasible = t.violation <= 0
    assert 0.1 < feasible.mean() < 0.3
    rows, history = search(t, 0, 150)
    assert feasible[rows[100:]].mean() > 0.6 > feasible.mean()  # random queries are mostly infeasible
    # proposals come from feasible parents: a lone infeasible arch that dominates everything is ignored
    sampler = ParetoLocalSearchSampler(NB201, seed=0, n_init=2, depth=1, explore=0.0)
    h = History(NB201, ("minimize", "minimize"))
    star, good = NB201.make([3] * 6), NB201.make([1, 1, 1, 0, 0, 0])
    h.add(star, (1.0, 1.0), violation=2.0)
    h.add(good, (5.0, 5.0))
    proposed = sampler.propose(h)
    assert proposed in NB201.neighbours(good) and proposed not in NB201.neighbours(star)


def test_without_a_feasible_arch_it_walks_from_the_smallest_violation():
    sampler = ParetoLocalSearchSampler(NB201, seed=0, n_init=2)
    h = History(NB201, ("minimize", "minimize"))
    near, far = NB201.make([3] * 6), NB201.make([1, 1, 1, 0, 0, 0])
    h.add(far, (1.0, 1.0), violation=5.0)
    h.add(near, (9.0, 9.0), violation=0.1)
    assert sampler.propose(h) in NB201.neighbours(near)


def test_beats_random_on_hypervolume():
    t, seeds, budget = task(), range(8), 100
    rows = {"mo-ls": np.stack([search(t, s, budget)[0] for s in seeds]),
            "random": np.stack([np.random.default_rng(s).choice(len(t.values), budget, replace=False)
                                for s in seeds])}
    res = BenchResult(t, budget, list(seeds), rows)
    hv = {k: res.hypervolume_ratio(k, [budget]).mean() for k in rows}
    assert hv["mo-ls"] > hv["random"]
    assert res.front_share("mo-ls").mean() > 2 * res.front_share("random").mean()


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_single_objective_is_a_local_search(direction):
    """One objective: valid accuracy (maximized) or error (minimized) of NB201 CIFAR-10."""
    t = TabularTask.create("nb201", "cifar10", ["valid_acc" if direction == "maximize" else "valid_error"])
    best, rand = [], []
    for seed in range(5):
        rows, history = search(t, seed, 100)
        assert history.directions == (direction,) and len(set(rows.tolist())) == 100
        best.append(t.minimized[rows, 0].min())
        rand.append(t.minimized[np.random.default_rng(seed).choice(len(t.values), 100, replace=False), 0].min())
    assert np.mean(best) < np.mean(rand)
