"""Multi-trial strategies as Optuna samplers over a space's categorical positions."""

from archscout.strategies._base import (
    STRATEGIES, ArchSampler, arch_distributions, arch_from_params, arch_to_params,
    create_strategy, list_strategies, register_strategy,
)
from archscout.strategies import _random, _evolution, _local_search  # noqa: F401  (register the strategies)
from archscout.strategies import _na_rs, _predictor, _foxnas, _progressive, _pareto_ls, _prior  # noqa: F401
from archscout.strategies._optuna import OPTUNA_SAMPLERS, optuna_sampler
from archscout.strategies._history import History, Observation
from archscout.strategies._random import NoReplaceRandomSampler, RandomArchSampler
from archscout.strategies._evolution import RegularizedEvolutionSampler
from archscout.strategies._local_search import LocalSearchSampler
from archscout.strategies._na_rs import NARandomSearchSampler
from archscout.strategies._predictor import BananasSampler, GuidedLocalSearchSampler, MLPEnsemble
from archscout.strategies._foxnas import FoxNASSampler, InteractionFeatures
from archscout.strategies._progressive import ProgressiveSampler
from archscout.strategies._pareto_ls import ParetoLocalSearchSampler
from archscout.strategies._prior import PRIORS, PriorSampler, prior_order, prior_scores

__all__ = [
    "OPTUNA_SAMPLERS",
    "PRIORS",
    "STRATEGIES",
    "ArchSampler",
    "BananasSampler",
    "FoxNASSampler",
    "GuidedLocalSearchSampler",
    "History",
    "InteractionFeatures",
    "LocalSearchSampler",
    "MLPEnsemble",
    "NARandomSearchSampler",
    "NoReplaceRandomSampler",
    "Observation",
    "ParetoLocalSearchSampler",
    "PriorSampler",
    "ProgressiveSampler",
    "RandomArchSampler",
    "RegularizedEvolutionSampler",
    "arch_distributions",
    "arch_from_params",
    "arch_to_params",
    "create_strategy",
    "list_strategies",
    "make_sampler",
    "optuna_sampler",
    "prior_order",
    "prior_scores",
    "register_strategy",
]


def make_sampler(name: str, space, seed: int | None = None, **kwargs):
    """An archscout strategy or one of Optuna's samplers (``optuna-*``) by name."""
    if name.startswith("optuna-"):
        return optuna_sampler(name, seed)
    return create_strategy(name, space, seed=seed, **kwargs)
