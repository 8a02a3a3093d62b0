"""Evaluators by name: what a search calls to score an arch (``tabular`` from tables, ``train`` by training).

A factory takes ``(space, dataset, **options)`` and returns an ``Evaluator``. Executors in other
processes rebuild the evaluator from its name (``EvaluatorSpec``) instead of pickling its tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archscout._registry import Registry
from archscout.evaluation import Evaluator, FBNetCostEvaluator, NB201TabularEvaluator, TrainingEvaluator, TrainingTask
from archscout.exceptions import ArchscoutError, UnknownNameError

EVALUATORS: Registry[Callable[..., Evaluator]] = Registry("evaluator")

_TABULAR = {"nb201": NB201TabularEvaluator, "fbnet": FBNetCostEvaluator}


def register_evaluator(name: str):
    """Decorator: register an evaluator factory ``(space, dataset, **options) -> Evaluator`` by name."""
    return EVALUATORS.register(name)


@register_evaluator("tabular")
def tabular_evaluator(space: str, dataset: str, **options: Any) -> Evaluator:
    """Answers from tables: NB201 accuracy + HW-NAS-Bench cost, or FBNet cost (no accuracy)."""
    if space not in _TABULAR:
        raise UnknownNameError("space with a tabular evaluator", space, _TABULAR)
    return _TABULAR[space](dataset, **options)


TASK_OPTIONS = ("suite", "split", "data_root", "data_seed", "per_domain", "image_size", "image_mode", "train")


@register_evaluator("train")
def training_evaluator(space: str, dataset: str, **options: Any) -> Evaluator:
    """Trains each arch on a suite's split (``suite``, ``split``, ``train``: TrainConfig fields, ...);
    the signal never reads the held-out domain. ``dataset`` names the cost table (NB201: cifar10)."""
    task = TrainingTask(**{k: options.pop(k) for k in TASK_OPTIONS if k in options})
    return TrainingEvaluator(space, task, cost_dataset=dataset, **options)


def list_evaluators(pattern: str = "*") -> list[str]:
    return EVALUATORS.names(pattern)


@dataclass(frozen=True)
class EvaluatorSpec:
    """A picklable recipe for an evaluator: rebuilt where it runs (process pool, Ray actor)."""

    name: str
    space: str
    dataset: str
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Evaluator:
        return EVALUATORS.get(self.name)(self.space, self.dataset, **self.options)


@dataclass(frozen=True)
class GivenEvaluator:
    """An evaluator object handed over as is (pickled to other processes)."""

    evaluator: Evaluator

    def __call__(self) -> Evaluator:
        return self.evaluator


def create_evaluator(name: str, space: str, dataset: str, **options: Any) -> Evaluator:
    return EvaluatorSpec(name, space, dataset, options)()


def _metric_column(evaluator: Evaluator, metric: str) -> np.ndarray | None:
    """Every arch's value of ``metric`` when the evaluator is a complete table, else None."""
    if isinstance(evaluator, NB201TabularEvaluator):
        bench = evaluator.bench
        return 100.0 - bench.column("valid_acc") if metric == "valid_error" else bench.column(metric)
    return None


def _fbnet_extreme(evaluator: Evaluator, metric: str, lowest: bool) -> float | None:
    """Smallest (largest) possible FBNet value of a lookup-table metric: best op per layer."""
    if not isinstance(evaluator, FBNetCostEvaluator):
        return None
    lut = getattr(evaluator.bench, "_luts", {}).get(metric)
    if lut is None:
        return None  # params, flops, HELP latencies: not a plain sum of a table
    stem, layers, head = lut
    pick = layers.min(axis=1) if lowest else layers.max(axis=1)
    return float(stem + pick.sum() + sum(head))


def check_feasible(evaluator: Evaluator, constraints: Sequence) -> None:
    """Fail up front when no arch can meet the constraints (tabular evaluators only; others pass)."""
    if not constraints:
        return
    columns = {c.metric: _metric_column(evaluator, c.metric) for c in constraints}
    if all(col is not None for col in columns.values()):
        ok = np.ones(len(next(iter(columns.values()))), dtype=bool)
        for c in constraints:
            col = columns[c.metric]
            with np.errstate(invalid="ignore"):
                ok &= np.array([c.violation(v) <= 0 for v in col.tolist()])
        if not ok.any():
            best = {c.metric: float(np.nanmin(columns[c.metric]) if c.op in ("<=", "<") else
                                    np.nanmax(columns[c.metric])) for c in constraints}
            raise ArchscoutError(f"no architecture meets the constraints {[str(c) for c in constraints]} "
                                 f"(best values in the table: {best})")
        return
    for c in constraints:
        extreme = _fbnet_extreme(evaluator, c.metric, lowest=c.op in ("<=", "<"))
        if extreme is not None and not math.isnan(extreme) and c.violation(extreme) > 0:
            raise ArchscoutError(f"no architecture meets the constraint {str(c)!r}: the best possible "
                                 f"{c.metric} in this space is {extreme:g}")
