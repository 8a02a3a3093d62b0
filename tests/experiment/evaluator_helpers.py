"""Evaluators for the engine tests, importable by worker processes (the tests put this folder on sys.path).

``Wrapped`` answers from the NB201 table after an optional sleep, and raises for every arch whose
NB201 index is a multiple of ``fail_every``. Importing the module registers the evaluator ``slow``
(for commands run in a subprocess: ``--evaluator slow``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from archscout.evaluation import Evaluation, Evaluator
from archscout.experiment import EVALUATORS, create_evaluator, register_evaluator


class Wrapped(Evaluator):
    def __init__(self, space: str = "nb201", dataset: str = "cifar10", delay: float = 0.0, fail_every: int = 0):
        self.inner = create_evaluator("tabular", space, dataset)
        self.space = self.inner.space
        self.delay, self.fail_every = delay, fail_every

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.inner.metrics

    def evaluate(self, arch, budget=None) -> Evaluation:
        if self.delay:
            time.sleep(self.delay)
        if self.fail_every and self.space.index(arch) % self.fail_every == 0:
            raise ValueError(f"flaky evaluator refuses arch {self.space.index(arch)}")
        return self.inner.evaluate(arch, budget)


@dataclass(frozen=True)
class WrappedFactory:
    """Picklable: each worker process builds its own ``Wrapped``."""

    delay: float = 0.0
    fail_every: int = 0

    def __call__(self) -> Wrapped:
        return Wrapped(delay=self.delay, fail_every=self.fail_every)


if "slow" not in EVALUATORS:
    register_evaluator("slow")(lambda space, dataset, delay=0.01, **kw: Wrapped(space, dataset, delay=delay))
