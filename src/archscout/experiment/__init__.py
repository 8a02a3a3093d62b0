"""Experiments: objectives, constraints, storage, executors and resume on an Optuna study; the simulated bench."""

from archscout.experiment._bench import BenchResult, TabularTask, bench_strategies, run_bench, simulate
from archscout.experiment._config import Constraint, ExperimentConfig, Objective
from archscout.experiment._evaluators import (
    EVALUATORS, EvaluatorSpec, create_evaluator, list_evaluators, register_evaluator,
)
from archscout.experiment._executors import (
    EXECUTORS, Executor, InlineExecutor, ProcessExecutor, create_executor, list_executors, register_executor,
)
from archscout.experiment._result import summarize, write_result
from archscout.experiment._run import Progress, default_evaluator, run_experiment
from archscout.experiment._storage import make_storage, open_study

__all__ = [
    "EVALUATORS", "EXECUTORS", "BenchResult", "Constraint", "EvaluatorSpec", "Executor", "ExperimentConfig",
    "InlineExecutor", "Objective", "ProcessExecutor", "Progress", "TabularTask", "bench_strategies",
    "create_evaluator", "create_executor", "default_evaluator", "list_evaluators", "list_executors",
    "make_storage", "open_study", "register_evaluator", "register_executor", "run_bench", "run_experiment",
    "simulate", "summarize", "write_result",
]
