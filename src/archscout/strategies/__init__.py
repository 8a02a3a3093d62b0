"""Multi-trial strategies as Optuna samplers over a space's categorical positions."""

from archscout.strategies._base import (
    STRATEGIES, ArchSampler, arch_distributions, arch_from_params, arch_to_params,
    create_strategy, list_strategies, register_strategy,
)
from archscout.strategies import _random, _evolution, _local_search  # noqa: F401  (register the strategies)
from archscout.strategies._history import History, Observation
from archscout.strategies._random import NoReplaceRandomSampler, RandomArchSampler
from archscout.strategies._evolution import RegularizedEvolutionSampler
from archscout.strategies._local_search import LocalSearchSampler

__all__ = [
    "STRATEGIES",
    "ArchSampler",
    "History",
    "LocalSearchSampler",
    "NoReplaceRandomSampler",
    "Observation",
    "RandomArchSampler",
    "RegularizedEvolutionSampler",
    "arch_distributions",
    "arch_from_params",
    "arch_to_params",
    "create_strategy",
    "list_strategies",
    "register_strategy",
]
