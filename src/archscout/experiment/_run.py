"""Run a multi-trial experiment on an Optuna study: resumable, multi-objective, constrained."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import optuna

from archscout.evaluation import Evaluator, FBNetCostEvaluator, NB201TabularEvaluator
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.experiment._config import ExperimentConfig
from archscout.strategies import arch_distributions, arch_from_params, make_sampler

_EVALUATORS = {"nb201": NB201TabularEvaluator, "fbnet": FBNetCostEvaluator}


def default_evaluator(config: ExperimentConfig) -> Evaluator:
    if config.space not in _EVALUATORS:
        raise UnknownNameError("space with a tabular evaluator", config.space, _EVALUATORS)
    return _EVALUATORS[config.space](config.dataset)


def make_storage(url: str) -> optuna.storages.BaseStorage | str:
    """SQLite with a generous lock timeout; ``journal:PATH`` for Optuna's journal file; else a URL."""
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL
        raise ArchscoutError(f"storage {url!r} cannot be opened ({type(exc).__name__}); use an SQLAlchemy URL "
                             "such as sqlite:///runs/study.db or postgresql://..., or journal:PATH") from None


def run_experiment(config: ExperimentConfig, evaluator: Evaluator | None = None) -> optuna.Study:
    """Run (or resume) ``config.n_trials`` evaluations; returns the Optuna study.

    Re-running the same config resumes: finished trials are kept and only the rest are run.
    An arch already evaluated in the study is answered from it (``user_attrs["repeat"]``).
    """
    evaluator = evaluator or default_evaluator(config)
    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()
    for metric in [o.metric for o in objectives] + [c.metric for c in constraints]:
        if metric not in evaluator.metrics:
            raise UnknownNameError(f"metric of evaluator {type(evaluator).__name__}", metric, evaluator.metrics)
    space = evaluator.space
    run_dir = Path(config.run_dir) / config.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), default=str, indent=1) + "\n")
    study = optuna.create_study(
        study_name=config.study_name, storage=make_storage(config.storage_url()),
        directions=[o.direction for o in objectives], sampler=make_sampler(config.strategy, space, config.seed), load_if_exists=True,
    )
    seen: dict = {}  # arch -> (objective value(s), user attrs): every completed evaluation, this run's too
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        arch = arch_from_params(space, t.params)
        if arch is not None:
            seen.setdefault(arch, (t.values if len(objectives) > 1 else t.value, t.user_attrs))
    dists = arch_distributions(space)

    def objective(trial: optuna.Trial):
        params = {name: trial.suggest_categorical(name, d.choices) for name, d in dists.items()}
        arch = space.make([params[n] for n in space.param_names])
        if arch in seen:
            value, attrs = seen[arch]
            trial.set_user_attr("repeat", True)
            for key in ("arch", "constraints", "reported", "cost_s", "metrics"):
                trial.set_user_attr(key, attrs.get(key))
            for c, v in zip(constraints, attrs.get("constraints") or []):
                trial.set_constraint(str(c), v)
            return value
        result = evaluator.evaluate(arch)
        metrics = {m: result.values[m] for m in {o.metric for o in objectives} | {c.metric for c in constraints}}
        violations = [c.violation(metrics[c.metric]) for c in constraints]
        attrs = {"arch": space.to_str(arch), "metrics": metrics, "reported": result.reported,
                 "cost_s": result.cost_s, "constraints": violations}
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        for c, v in zip(constraints, violations):  # Optuna's samplers read these (feasible when <= 0)
            trial.set_constraint(str(c), v)
        values = [metrics[o.metric] for o in objectives]
        if any(v != v for v in values):
            raise ArchscoutError(f"objective is NaN for {space.to_str(arch)}: the table has no value")
        value = values if len(values) > 1 else values[0]
        seen[arch] = (value, attrs)
        return value

    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    remaining = config.n_trials - done
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, catch=(ArchscoutError,))
    return study
