"""Experiments: objectives, constraints, storage and resume on an Optuna study."""

from archscout.experiment._config import Constraint, ExperimentConfig, Objective, OPTUNA_SAMPLERS
from archscout.experiment._run import default_evaluator, make_sampler, make_storage, run_experiment

__all__ = [
    "OPTUNA_SAMPLERS", "Constraint", "ExperimentConfig", "Objective", "default_evaluator", "make_sampler",
    "make_storage", "run_experiment",
]
