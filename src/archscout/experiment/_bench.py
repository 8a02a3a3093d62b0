"""Strategies x seeds x budget on a tabular benchmark, simulated (Syne Tune style): every query is a
table lookup, so hundreds of runs take seconds and strategies are compared on the same seeds.

archscout's strategies run on a History directly (the same ``propose`` code an Optuna study calls);
Optuna's samplers run in an in-memory study. Each query counts, repeats included.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import optuna

from archscout._pareto import hypervolume, pareto_mask
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.experiment._config import Constraint, Objective
from archscout.hardware import get_cost_model
from archscout.spaces import SearchSpace
from archscout.strategies import (
    OPTUNA_SAMPLERS, STRATEGIES, ArchSampler, History, arch_distributions, create_strategy, list_strategies,
    optuna_sampler,
)

TABULAR_SPACES = ("nb201",)  # spaces whose every arch has a row in a table (the bench needs the optimum)


@dataclass
class TabularTask:
    """The whole table of one benchmark, as arrays over rows: objectives, constraint violation, test accuracy."""

    space: SearchSpace
    dataset: str
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    values: np.ndarray  # (rows, k), in the objectives' own units and directions
    violation: np.ndarray  # (rows,), largest constraint violation; feasible when <= 0
    reported: np.ndarray  # (rows,), test accuracy: reported for the arch chosen by validation

    @classmethod
    def create(cls, space: str = "nb201", dataset: str = "cifar10", objectives: Sequence[str] = ("valid_acc",),
               constraints: Sequence[str] = ()) -> "TabularTask":
        if space not in TABULAR_SPACES:
            raise UnknownNameError("space with a complete table (bench)", space, TABULAR_SPACES)
        bench = get_cost_model(space, dataset)
        objs = tuple(Objective.parse(o) for o in objectives)
        cons = tuple(Constraint.parse(c) for c in constraints)
        if not objs:
            raise ArchscoutError("at least one objective is needed, e.g. valid_acc or latency@raspi4")
        known = ("valid_error",) + tuple(m for m in bench.metrics if m not in ("test_acc", "train_acc"))

        def column(metric: str) -> np.ndarray:
            if metric not in known:
                raise UnknownNameError(f"metric of {space} on {dataset}", metric, known)
            return 100.0 - bench.column("valid_acc") if metric == "valid_error" else bench.column(metric)

        values = np.stack([column(o.metric) for o in objs], axis=1)
        violation = np.zeros(len(values))
        for c in cons:
            violation = np.maximum(violation, np.array([c.violation(v) for v in column(c.metric)]))
        if not np.any(violation <= 0):
            best = {c.metric: float(np.nanmin(column(c.metric))) for c in cons}
            raise ArchscoutError(f"no architecture meets the constraints {[str(c) for c in cons]} "
                                 f"(smallest values in the table: {best})")
        return cls(bench.space, dataset, objs, cons, values, violation, bench.column("test_acc"))

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(o.direction for o in self.objectives)

    @cached_property
    def minimized(self) -> np.ndarray:
        """Objectives turned all-minimize; infeasible or unknown rows are +inf."""
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        m = self.values * signs
        m[~np.isfinite(m).all(axis=1) | (self.violation > 0)] = np.inf
        return m

    @cached_property
    def optimum(self) -> float:
        """Best feasible value of the single objective (in minimized form)."""
        return float(self.minimized[:, 0].min())

    @cached_property
    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of each objective over the feasible rows: hypervolumes are taken in [0, 1]^k."""
        ok = np.isfinite(self.minimized).all(axis=1)
        return self.minimized[ok].min(axis=0), self.minimized[ok].max(axis=0)

    def normalized(self, rows: np.ndarray) -> np.ndarray:
        lo, hi = self.normalization
        return (self.minimized[rows] - lo) / np.where(hi > lo, hi - lo, 1.0)

    @cached_property
    def front(self) -> np.ndarray:
        """Rows of the exact Pareto front (feasible rows only)."""
        ok = np.flatnonzero(np.isfinite(self.minimized).all(axis=1))
        return ok[pareto_mask(self.minimized[ok])]

    @cached_property
    def front_hypervolume(self) -> float:
        return hypervolume(self.normalized(self.front), np.ones(len(self.objectives)))

    def row(self, arch) -> int:
        return self.space.index(arch)


def strategy_fits(name: str, n_objectives: int) -> bool:
    """Whether a strategy (archscout's or ``optuna-*``) handles this many objectives."""
    if name in OPTUNA_SAMPLERS:
        return name != "optuna-nsga2" or n_objectives > 1
    return n_objectives == 1 or STRATEGIES.get(name).multi_objective


def bench_strategies(names: Sequence[str] | str, n_objectives: int) -> list[str]:
    """``all`` = every strategy that fits the objectives; else the names, each checked."""
    every = list_strategies() + list(OPTUNA_SAMPLERS)
    if names == "all" or list(names) == ["all"]:
        return [n for n in every if strategy_fits(n, n_objectives)]
    out = []
    for name in names:
        if name not in every:
            raise UnknownNameError("strategy", name, every)
        if not strategy_fits(name, n_objectives):
            fitting = [n for n in every if strategy_fits(n, n_objectives)]
            raise ArchscoutError(f"strategy {name!r} does not handle {n_objectives} objective(s); "
                                 f"strategies that do: {', '.join(fitting)}")
        out.append(name)
    return out


def simulate(strategy: str, task: TabularTask, budget: int, seed: int) -> np.ndarray:
    """Rows queried, in order, by one run of ``strategy`` (``budget`` queries, repeats counted)."""
    if strategy in OPTUNA_SAMPLERS:
        return _simulate_optuna(strategy, task, budget, seed)
    sampler: ArchSampler = create_strategy(strategy, task.space, seed=seed)
    history = History(task.space, task.directions)
    rows = np.empty(budget, dtype=np.int64)
    for i in range(budget):
        arch = sampler.propose(history)
        r = rows[i] = task.row(arch)
        values = task.values[r]
        if np.isnan(values).any():
            history.add_failed(arch)
        else:
            history.add(arch, values, task.violation[r])
    return rows


def _simulate_optuna(strategy: str, task: TabularTask, budget: int, seed: int) -> np.ndarray:
    space, dists = task.space, arch_distributions(task.space)
    rows: list[int] = []

    def objective(trial: optuna.Trial):
        ops = [trial.suggest_categorical(n, d.choices) for n, d in dists.items()]
        r = task.row(space.make(ops))
        rows.append(r)
        if task.constraints:
            trial.set_constraint("constraints", float(task.violation[r]))
        values = task.values[r]
        if np.isnan(values).any():
            raise ArchscoutError("no value in the table")
        return values[0] if len(values) == 1 else tuple(values)

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # thousands of in-memory studies: no per-trial log
    try:
        study = optuna.create_study(directions=list(task.directions), sampler=optuna_sampler(strategy, seed))
        study.optimize(objective, n_trials=budget, catch=(ArchscoutError,))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return np.array(rows, dtype=np.int64)


@dataclass
class BenchResult:
    """Rows queried by every (strategy, seed) run, and the figures derived from them."""

    task: TabularTask
    budget: int
    seeds: list[int]
    rows: dict[str, np.ndarray]  # strategy -> (seeds, budget)
    seconds: dict[str, float] = field(default_factory=dict)  # strategy -> wall time of all its runs

    @property
    def multi_objective(self) -> bool:
        return len(self.task.objectives) > 1

    def checkpoints(self) -> list[int]:
        marks = (50, 100, 200, 500) if self.multi_objective else (50, 100, 300, 500)
        return sorted({b for b in marks if b <= self.budget} | {self.budget})

    # -- one objective --------------------------------------------------------------------------
    def incumbent(self, strategy: str) -> np.ndarray:
        """(seeds, budget) row of the best (by the search objective) arch found so far."""
        rows = self.rows[strategy]
        m = self.task.minimized[rows, 0]
        best = np.minimum.accumulate(m, axis=1)
        pos = np.zeros_like(rows)
        for j in range(1, rows.shape[1]):  # position of the first query reaching the running best
            improved = m[:, j] < best[:, j - 1]
            pos[:, j] = np.where(improved, j, pos[:, j - 1])
        return np.take_along_axis(rows, pos, axis=1)

    def regret(self, strategy: str) -> np.ndarray:
        """(seeds, budget): distance of the best value found so far to the table's optimum (search objective)."""
        best = np.minimum.accumulate(self.task.minimized[self.rows[strategy], 0], axis=1)
        return best - self.task.optimum

    def reported(self, strategy: str) -> np.ndarray:
        """(seeds, budget): test accuracy of the arch chosen by the search objective so far."""
        return self.task.reported[self.incumbent(strategy)]

    def queries_to_best(self, strategy: str) -> np.ndarray:
        """Per seed, queries until the table's optimum was found (inf when not within the budget)."""
        hit = self.task.minimized[self.rows[strategy], 0] <= self.task.optimum
        first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
        return first.astype(float)

    # -- several objectives ---------------------------------------------------------------------
    def hypervolume_ratio(self, strategy: str, budgets: Sequence[int]) -> np.ndarray:
        """(seeds, len(budgets)): hypervolume of the feasible archs found / the exact front's."""
        ref = np.ones(len(self.task.objectives))
        out = np.zeros((len(self.seeds), len(budgets)))
        for i, rows in enumerate(self.rows[strategy]):
            for j, b in enumerate(budgets):
                pts = self.task.normalized(rows[:b])
                out[i, j] = hypervolume(pts[np.isfinite(pts).all(axis=1)], ref) / self.task.front_hypervolume
        return out

    def front_share(self, strategy: str) -> np.ndarray:
        """Per seed, the share of the exact front's archs queried within the budget."""
        front = set(self.task.front.tolist())
        return np.array([len(front & set(r.tolist())) / len(front) for r in self.rows[strategy]])

    def curve(self, strategy: str) -> tuple[np.ndarray, np.ndarray]:
        """Anytime curve: (queries, (seeds, len(queries)) values) of regret, or of the hypervolume ratio."""
        if self.multi_objective:
            grid = np.unique(np.linspace(1, self.budget, min(self.budget, 40)).round().astype(int))
            return grid, self.hypervolume_ratio(strategy, grid)
        return np.arange(1, self.budget + 1), self.regret(strategy)

    # -- summaries ------------------------------------------------------------------------------
    def summary(self) -> dict[str, dict]:
        """Per strategy: the figures of the bench table, as plain numbers (JSON-ready)."""
        marks = self.checkpoints()
        out = {}
        for s in self.rows:
            entry: dict = {"seconds": round(self.seconds.get(s, math.nan), 3)}
            if self.multi_objective:
                hv = self.hypervolume_ratio(s, marks)
                entry["hypervolume_ratio"] = {str(b): _stat(hv[:, j]) for j, b in enumerate(marks)}
                entry["front_share"] = _stat(self.front_share(s))
            else:
                q = self.queries_to_best(s)
                entry["median_queries_to_best"] = None if np.isinf(np.median(q)) else float(np.median(q))
                entry["found_best"] = float(np.isfinite(q).mean())
                reg, rep = self.regret(s), self.reported(s)
                entry["regret"] = {str(b): _stat(reg[:, b - 1]) for b in marks}
                entry["reported_test_acc"] = {str(b): _stat(rep[:, b - 1]) for b in marks}
            out[s] = entry
        return out


def _stat(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(x)), "std": float(np.std(x))}


def _timed_run(strategy: str, task: TabularTask, budget: int, seed: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    rows = simulate(strategy, task, budget, seed)
    return rows, time.perf_counter() - start


def run_bench(task: TabularTask, strategies: Sequence[str], seeds: Sequence[int], budget: int,
              progress: Callable[[str, int], None] | None = None, jobs: int = 1) -> BenchResult:
    """Every strategy on every seed for ``budget`` queries (seed i of every strategy is the same seed).

    ``jobs`` > 1 spreads the runs over that many processes; ``seconds`` is then the summed run time.
    """
    if budget <= 0:
        raise ArchscoutError(f"budget {budget} must be a positive number of queries")
    if not seeds:
        raise ArchscoutError("at least one seed is needed")
    if jobs <= 0:
        raise ArchscoutError(f"jobs {jobs} must be a positive number of processes")
    runs = [(s, seed) for s in strategies for seed in seeds]
    done: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
    if jobs == 1:
        for s, seed in runs:
            done[s, seed] = _timed_run(s, task, budget, seed)
            if progress is not None:
                progress(s, seed)
    else:
        import os
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from archscout._procs import exit_with_parent

        with ProcessPoolExecutor(jobs, initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_timed_run, s, task, budget, seed): (s, seed) for s, seed in runs}
            for fut in as_completed(futures):
                done[futures[fut]] = fut.result()
                if progress is not None:
                    progress(*futures[fut])
    rows = {s: np.stack([done[s, seed][0] for seed in seeds]) for s in strategies}
    seconds = {s: sum(done[s, seed][1] for seed in seeds) for s in strategies}
    return BenchResult(task, budget, list(seeds), rows, seconds)
