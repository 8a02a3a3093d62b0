"""Experiments: objectives, constraints, storage and resume on an Optuna study; the simulated bench."""

from archscout.experiment._bench import BenchResult, TabularTask, bench_strategies, run_bench, simulate
from archscout.experiment._config import Constraint, ExperimentConfig, Objective
from archscout.experiment._run import default_evaluator, make_storage, run_experiment

__all__ = [
    "BenchResult", "Constraint", "ExperimentConfig", "Objective", "TabularTask", "bench_strategies",
    "default_evaluator", "make_storage", "run_bench", "run_experiment", "simulate",
]
