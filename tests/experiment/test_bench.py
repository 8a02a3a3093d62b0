"""The simulated bench: the task's table, the figures derived from runs, and determinism."""

import numpy as np
import pytest

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.experiment import BenchResult, TabularTask, bench_strategies, run_bench, simulate
from archscout.hardware import get_cost_model


@pytest.fixture(scope="module")
def c10():
    return TabularTask.create("nb201", "cifar10", ["valid_acc"])


@pytest.fixture(scope="module")
def raspi4():
    return TabularTask.create("nb201", "cifar10", ["valid_error", "latency@raspi4"])


def test_single_objective_task(c10):
    valid = get_cost_model("nb201", "cifar10").column("valid_acc")
    assert c10.directions == ("maximize",)
    assert c10.optimum == -valid.max()
    assert (c10.reported == get_cost_model("nb201", "cifar10").column("test_acc")).all()


def brute_force_front(points: np.ndarray) -> set[int]:
    """Rows no other row dominates (<= in both objectives, < in one), by a direct O(n^2) comparison."""
    keep = set()
    for i, p in enumerate(points):
        dominated = np.all(points <= p, axis=1) & np.any(points < p, axis=1)
        if not dominated.any():
            keep.add(i)
    return keep


def test_pareto_task_front(raspi4):
    cm = get_cost_model("nb201", "cifar10")
    points = np.stack([100.0 - cm.column("valid_acc"), cm.column("raspi4_latency")], axis=1)
    finite = np.isfinite(points).all(axis=1)
    expected = {int(i) for i in np.flatnonzero(finite)[sorted(brute_force_front(points[finite]))]}
    assert set(raspi4.front.tolist()) == expected and len(expected) > 10
    n = raspi4.normalized(raspi4.front)
    assert n.min() >= 0 and n.max() <= 1
    assert raspi4.front_hypervolume > 0.9


def test_figures_from_hand_made_rows(c10):
    best = int(np.argmin(c10.minimized[:, 0]))
    worst = int(np.argmax(c10.minimized[:, 0]))
    rows = np.full((2, 10), worst)
    rows[0, 6] = best  # seed 0 finds the best at query 7; seed 1 never does
    res = BenchResult(c10, 10, [0, 1], {"hand": rows})
    assert res.queries_to_best("hand").tolist() == [7.0, np.inf]
    regret = res.regret("hand")
    assert regret[0, 5] > 0 and regret[0, 6] == 0 and regret[0, 9] == 0
    assert (res.reported("hand")[0, 6:] == c10.reported[best]).all()
    assert (res.reported("hand")[1] == c10.reported[worst]).all()
    e = res.summary()["hand"]
    assert e["median_queries_to_best"] is None and e["found_best"] == 0.5  # median of (7, inf) is inf


def test_front_found_gives_ratio_one(raspi4):
    front = raspi4.front
    rows = np.resize(front, 100)[None, :]
    res = BenchResult(raspi4, 100, [0], {"front": rows})
    assert res.hypervolume_ratio("front", [100])[0, 0] == pytest.approx(1.0)
    assert res.front_share("front")[0] == 1.0
    assert res.hypervolume_ratio("front", [1])[0, 0] < 1.0


def test_simulate_is_reproducible_and_counts_every_query(c10):
    a = simulate("rea", c10, 80, seed=3)
    assert len(a) == 80 and (a == simulate("rea", c10, 80, seed=3)).all()
    assert (a != simulate("rea", c10, 80, seed=4)).any()
    assert len(set(simulate("random-noreplace", c10, 200, seed=0).tolist())) == 200
    tpe = simulate("optuna-tpe", c10, 30, seed=0)
    assert len(tpe) == 30 and (tpe == simulate("optuna-tpe", c10, 30, seed=0)).all()


def test_run_bench_local_search_beats_random(c10):
    res = run_bench(c10, ["ls", "random"], list(range(10)), 150)
    s = res.summary()
    assert s["ls"]["regret"]["100"]["mean"] < s["random"]["regret"]["100"]["mean"]
    assert set(s["ls"]["regret"]) == {"50", "100", "150"}


def test_strategy_selection():
    assert "optuna-nsga2" not in bench_strategies("all", 1)
    assert "rea" not in bench_strategies("all", 2) and "optuna-nsga2" in bench_strategies("all", 2)
    with pytest.raises(ArchscoutError, match="strategy 'rea' does not handle 2 objective"):
        bench_strategies(["rea"], 2)
    with pytest.raises(UnknownNameError, match="unknown strategy 'reaa'"):
        bench_strategies(["reaa"], 1)


def test_bad_tasks(c10):
    with pytest.raises(UnknownNameError, match="space with a complete table"):
        TabularTask.create("fbnet", "cifar100")
    with pytest.raises(UnknownNameError, match="unknown device 'mars'"):
        TabularTask.create("nb201", "cifar10", ["latency@mars"])
    with pytest.raises(ArchscoutError, match="no architecture meets the constraints"):
        TabularTask.create("nb201", "cifar10", ["valid_acc"], ["latency@raspi4 <= 0.0001"])
    with pytest.raises(ArchscoutError, match="budget 0 must be a positive"):
        run_bench(c10, ["random"], [0], 0)


def test_unknown_metric():
    with pytest.raises(UnknownNameError, match="unknown metric 'acc'"):
        TabularTask.create("nb201", "cifar10", ["acc"])
    with pytest.raises(UnknownNameError, match="unknown metric of nb201 on cifar10 'test_acc'"):  # never a signal
        TabularTask.create("nb201", "cifar10", ["test_acc"])


def test_parallel_runs_give_the_same_rows(c10):
    one = run_bench(c10, ["rea", "optuna-random"], [0, 1, 2], 40)
    two = run_bench(c10, ["rea", "optuna-random"], [0, 1, 2], 40, jobs=2)
    assert all((one.rows[s] == two.rows[s]).all() for s in one.rows)
