"""Experiment configuration: objectives, constraints and where the study lives, validated up front."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from archscout._rundir import RUN_ONLY
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import resolve_metric

_MAXIMIZE = ("valid_acc", "train_acc", "test_acc")
_CONSTRAINT_RE = re.compile(r"^\s*([\w@.-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
RUN_ONLY_OPTIONS = (*RUN_ONLY, "run_dir")  # evaluator options that may change when a study resumes


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
    """One multi-trial search, validated on construction.

    ``storage`` None = ``runs/<name>/study.db`` (SQLite); else an SQLAlchemy URL (PostgreSQL for
    drivers on several machines), ``journal:PATH`` or ``memory``. ``strategy_options`` are keyword
    arguments of the strategy (e.g. ``prior``'s ``allowed``). ``n_trials`` counts every trial of
    the study (the ones of earlier runs and of other drivers included): re-running resumes.
    ``executor`` ``inline`` | ``process`` | ``ray`` runs up to ``n_workers`` evaluations at once;
    ``ray_address`` joins a Ray cluster (a local Ray instance otherwise); ``gpus_per_trial`` reserves
    GPUs (fractions allowed) for each of its trainings. ``evaluator`` names the
    evaluator factory (``tabular`` answers from NB201/FBNet tables, ``train`` trains each arch on a
    suite's split) and ``evaluator_options`` are its keyword arguments (``train``: suite, split, train,
    signal, min_epochs, ...; its per-arch runs go to ``RUN/train/`` and the ``<=`` constraints on
    table costs are checked before training: an infeasible arch is never trained).
    """

    space: str = "nb201"
    dataset: str = "cifar10"
    objectives: tuple[str, ...] = ("valid_error",)
    constraints: tuple[str, ...] = ()
    strategy: str = "rea"
    strategy_options: dict = field(default_factory=dict)
    n_trials: int = 100
    seed: int = 0
    name: str = "archscout"
    run_dir: Path = field(default_factory=lambda: Path("runs"))
    storage: str | None = None
    evaluator: str = "tabular"
    evaluator_options: dict = field(default_factory=dict)
    executor: str = "inline"
    n_workers: int = 1
    ray_address: str | None = None
    gpus_per_trial: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.gpus_per_trial, bool) or not isinstance(self.gpus_per_trial, (int, float)) \
                or not self.gpus_per_trial >= 0:
            raise ArchscoutError(f"gpus_per_trial {self.gpus_per_trial!r} must be a number >= 0 (fractions allowed)")
        if self.gpus_per_trial and self.executor != "ray":
            raise ArchscoutError(f"gpus_per_trial needs executor 'ray' (got {self.executor!r})")
        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int) or self.n_trials <= 0:
            raise ArchscoutError(f"budget n_trials={self.n_trials} must be a positive number of trials")
        if not _NAME_RE.match(self.name):
            raise ArchscoutError(f"name {self.name!r} must be letters, digits, '.', '_' or '-' (it names a "
                                 "directory and the study)")
        from archscout.experiment._evaluators import EVALUATORS
        from archscout.experiment._executors import check_executor
        from archscout.experiment._storage import check_storage_url

        if self.evaluator not in EVALUATORS:
            raise UnknownNameError("evaluator", self.evaluator, EVALUATORS.names())
        if not isinstance(self.strategy_options, dict):
            raise ArchscoutError(f"strategy_options {self.strategy_options!r} must be a dict of keyword arguments")
        if not isinstance(self.evaluator_options, dict):
            raise ArchscoutError(f"evaluator_options {self.evaluator_options!r} must be a dict of keyword arguments")
        check_executor(self.executor)
        if isinstance(self.n_workers, bool) or not isinstance(self.n_workers, int) or self.n_workers < 1:
            raise ArchscoutError(f"n_workers={self.n_workers} must be a positive number of workers")
        if self.executor == "inline" and self.n_workers > 1:
            raise ArchscoutError(f"executor 'inline' evaluates one arch at a time (n_workers={self.n_workers}); "
                                 "use executor 'process' or 'ray' for several workers")
        if self.executor == "ray":
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise ArchscoutError("executor 'ray' needs Ray: pip install 'archscout[ray]'")
        if self.ray_address and self.executor != "ray":
            raise ArchscoutError(f"ray_address is for executor 'ray', not {self.executor!r}")
        if self.storage is not None:
            check_storage_url(self.storage)
        if not self.objectives:
            raise ArchscoutError("at least one objective is needed, e.g. valid_error or latency@raspi4")
        from archscout.strategies import OPTUNA_SAMPLERS, list_strategies

        if self.strategy not in list_strategies() + list(OPTUNA_SAMPLERS):
            raise UnknownNameError("strategy", self.strategy, list_strategies() + list(OPTUNA_SAMPLERS))
        objectives = self.parsed_objectives()
        self.parsed_constraints()
        from archscout.strategies import STRATEGIES

        if len(objectives) > 1 and self.strategy in STRATEGIES and \
                not getattr(STRATEGIES.get(self.strategy), "multi_objective", True):
            fitting = [n for n in list_strategies() if getattr(STRATEGIES.get(n), "multi_objective", True)]
            raise ArchscoutError(f"strategy {self.strategy!r} optimizes one objective but the search has "
                                 f"{len(objectives)}; multi-objective strategies: {', '.join(fitting)}, optuna-nsga2")

    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(o) for o in self.objectives]

    def parsed_constraints(self) -> list[Constraint]:
        return [Constraint.parse(c) for c in self.constraints]

    @property
    def study_name(self) -> str:
        return f"{self.name}-v1"

    @property
    def run_path(self) -> Path:
        """The run directory: ``run_dir/name``."""
        return Path(self.run_dir) / self.name

    def search_key(self) -> dict:
        """What defines the search: a study resumes only with the same key (budget, strategy, executor may change)."""
        options = {k: v for k, v in self.evaluator_options.items() if k not in RUN_ONLY_OPTIONS}
        return {"space": self.space, "dataset": self.dataset, "evaluator": self.evaluator,
                **({"evaluator_options": options} if options else {}),
                "objectives": [o.metric for o in self.parsed_objectives()],
                "constraints": [str(c) for c in self.parsed_constraints()]}

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(Path(self.run_dir) / self.name / 'study.db').resolve()}"

