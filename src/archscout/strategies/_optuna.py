"""Optuna's own samplers as named baselines next to archscout's strategies."""

from __future__ import annotations

import optuna

from archscout.exceptions import UnknownNameError

# optuna-tpe is Optuna's default TPESampler (multivariate in Optuna 5); -independent is per-parameter TPE
OPTUNA_SAMPLERS = ("optuna-random", "optuna-tpe", "optuna-tpe-independent", "optuna-nsga2")


def optuna_sampler(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """One of Optuna's samplers by archscout name, e.g. ``optuna_sampler("optuna-tpe", seed=0)``."""
    if name == "optuna-random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "optuna-tpe-independent":
        return optuna.samplers.TPESampler(seed=seed, multivariate=False)
    if name == "optuna-nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise UnknownNameError("Optuna sampler", name, OPTUNA_SAMPLERS)
