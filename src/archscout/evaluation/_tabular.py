"""Evaluators answered from tables: NB201 (accuracy + cost) and FBNet (cost only)."""

from __future__ import annotations

from typing import Any

from archscout.evaluation._base import Evaluation, Evaluator
from archscout.hardware import get_cost_model
from archscout.spaces import Arch

# [ASSUMPTION] NB201's per-arch training times are not in the shipped data: a simulated epoch
# takes a fixed part plus a part proportional to the arch's MACs, on the scale of NB201's GPU runs.
EPOCH_SECONDS_FIXED = 5.0
EPOCH_SECONDS_PER_MMAC = 0.1
NB201_EPOCHS = 200


class NB201TabularEvaluator(Evaluator):
    """NB201 from its 200-epoch table: search signal = validation accuracy, reported = test accuracy.

    ``values`` holds ``valid_acc``, ``valid_error`` (100 - valid_acc) and every cost metric of the
    table (HW-NAS-Bench names, params, flops); ``reported`` holds ``test_acc`` (and ``train_acc``).
    """

    def __init__(self, dataset: str = "cifar10"):
        self.bench = get_cost_model("nb201", dataset)
        self.space = self.bench.space
        self.dataset = dataset
        self._reported = ("test_acc", "train_acc")
        self._cost = tuple(m for m in self.bench.metrics if m not in ("valid_acc", *self._reported))

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("valid_acc", "valid_error") + self._cost

    def evaluate(self, arch: Arch, budget: Any = None) -> Evaluation:
        row = self.bench.query(arch)
        values = {"valid_acc": row["valid_acc"], "valid_error": 100.0 - row["valid_acc"]}
        values.update((m, row[m]) for m in self._cost)
        epochs = NB201_EPOCHS if budget is None else float(budget)
        cost = epochs * (EPOCH_SECONDS_FIXED + EPOCH_SECONDS_PER_MMAC * row["flops"])
        return Evaluation(values, {m: row[m] for m in self._reported}, cost)


class FBNetCostEvaluator(Evaluator):
    """FBNet hardware cost only (lookup-table sums, params, FLOPs): no accuracy is known."""

    def __init__(self, dataset: str = "cifar100"):
        self.bench = get_cost_model("fbnet", dataset)
        self.space = self.bench.space
        self.dataset = dataset

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.bench.metrics

    def evaluate(self, arch: Arch, budget: Any = None) -> Evaluation:
        return Evaluation(self.bench.query(arch))
