"""Experiment configuration: objectives, constraints and where the study lives, validated up front."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import resolve_metric

_MAXIMIZE = ("valid_acc", "train_acc", "test_acc")
_CONSTRAINT_RE = re.compile(r"^\s*([\w@.-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Objective:
    """A metric to optimize; ``latency@raspi4`` style names resolve to table names (raspi4_latency)."""

    metric: str
    direction: str

    @classmethod
    def parse(cls, text: str) -> "Objective":
        metric = resolve_metric(text.strip())
        return cls(metric, "maximize" if metric in _MAXIMIZE else "minimize")


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (or <, >=, >). Optuna's convention: feasible when ``violation <= 0``."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        m = _CONSTRAINT_RE.match(text)
        if m is None:
            raise ArchscoutError(f"constraint {text!r} is not 'metric <= number' (operators: <=, <, >=, >)")
        return cls(resolve_metric(m.group(1)), m.group(2), float(m.group(3)))

    def violation(self, value: float) -> float:
        if value != value:  # NaN: unknown cost can never satisfy a constraint
            return float("inf")
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class ExperimentConfig:
    """One multi-trial search. ``storage`` None = an SQLite file in ``run_dir``."""

    space: str = "nb201"
    dataset: str = "cifar10"
    objectives: tuple[str, ...] = ("valid_error",)
    constraints: tuple[str, ...] = ()
    strategy: str = "rea"
    n_trials: int = 100
    seed: int = 0
    name: str = "archscout"
    run_dir: Path = field(default_factory=lambda: Path("runs"))
    storage: str | None = None

    def __post_init__(self) -> None:
        if self.n_trials <= 0:
            raise ArchscoutError(f"budget n_trials={self.n_trials} must be a positive number of trials")
        if not self.objectives:
            raise ArchscoutError("at least one objective is needed, e.g. valid_error or latency@raspi4")
        from archscout.strategies import OPTUNA_SAMPLERS, list_strategies

        if self.strategy not in list_strategies() + list(OPTUNA_SAMPLERS):
            raise UnknownNameError("strategy", self.strategy, list_strategies() + list(OPTUNA_SAMPLERS))
        self.parsed_objectives()
        self.parsed_constraints()

    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(o) for o in self.objectives]

    def parsed_constraints(self) -> list[Constraint]:
        return [Constraint.parse(c) for c in self.constraints]

    @property
    def study_name(self) -> str:
        return f"{self.name}-v1"

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(Path(self.run_dir) / self.name / 'study.db').resolve()}"

