import numpy as np
import optuna
import pytest

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.experiment import ExperimentConfig, run_experiment
from archscout.hardware import get_cost_model
from archscout.spaces import get_space
from archscout.strategies import arch_from_params

optuna.logging.set_verbosity(optuna.logging.WARNING)


def complete(study):
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))


def test_single_objective_run_and_resume(tmp_path):
    cfg = ExperimentConfig(space="nb201", dataset="cifar100", strategy="random", n_trials=20, seed=1,
                           run_dir=tmp_path, name="s")
    study = run_experiment(cfg)
    assert len(complete(study)) == 20 and (tmp_path / "s" / "study.db").exists()
    best = study.best_trial
    attrs = best.user_attrs["archscout"]
    assert "test_acc" in attrs["reported"] and attrs["cost_s"] > 0 and attrs["arch"]
    # same command, larger budget: resumes, keeps the first 20, no duplicates
    study2 = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 30}))
    trials = complete(study2)
    assert len(trials) == 30 and [t.number for t in trials] == list(range(30))
    assert run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 30})).trials == study2.trials


def test_multi_objective_with_constraint(tmp_path):
    cfg = ExperimentConfig(objectives=("valid_error", "latency@raspi4"), constraints=("latency@raspi4 <= 8",),
                           strategy="optuna-nsga2", n_trials=30, run_dir=tmp_path, name="mo")
    study = run_experiment(cfg)
    assert len(study.directions) == 2
    for t in complete(study):
        assert t.user_attrs["archscout"]["constraints"] == [pytest.approx(t.values[1] - 8)]
        assert t.constraints == {"0": pytest.approx(t.values[1] - 8)}  # Optuna's own view


def test_repeats_answered_from_study(tmp_path):
    cfg = ExperimentConfig(space="nb201", strategy="optuna-random", n_trials=1, run_dir=tmp_path, name="r")
    study = run_experiment(cfg)
    params = study.trials[0].params
    study.enqueue_trial(params)
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 2}))
    again = study.trials[1].user_attrs["archscout"]
    assert again["repeat"] is True and again["repeat_of"] == 0 and study.trials[1].value == study.trials[0].value


def test_nan_objective_fails_trial_not_run(tmp_path):
    cfg = ExperimentConfig(objectives=("latency@edgetpu",), strategy="optuna-random", n_trials=40,
                           run_dir=tmp_path, name="tpu")
    study = run_experiment(cfg)
    lat = get_cost_model("nb201", "cifar10").column("edgetpu_latency")
    space = get_space("nb201")
    states = {t.state for t in study.trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL} and len(study.trials) == 40
    for t in study.trials:  # a NaN latency fails its trial; every other one completes with its finite value
        value = lat[space.index(arch_from_params(space, t.params))]
        if np.isfinite(value):
            assert t.state == optuna.trial.TrialState.COMPLETE and t.value == pytest.approx(value)
        else:
            assert t.state == optuna.trial.TrialState.FAIL and t.value is None
    assert any(t.state == optuna.trial.TrialState.FAIL for t in study.trials)  # 30 % of the table is NaN


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_trials=0), "budget n_trials=0"),
    (dict(strategy="bogus"), "unknown strategy 'bogus'"),
    (dict(objectives=("latency@rpi",)), "unknown device 'rpi'"),
    (dict(objectives=("accuracy",)), "unknown metric 'accuracy'"),
    (dict(constraints=("latency@raspi4 = 3",)), "is not 'metric <= number'"),
])
def test_bad_config(kwargs, match):
    with pytest.raises((ArchscoutError, UnknownNameError), match=match):
        ExperimentConfig(**kwargs)


def test_bad_storage(tmp_path):
    with pytest.raises(ArchscoutError, match="storage 'notadb://x' cannot be opened"):
        ExperimentConfig(storage="notadb://x", run_dir=tmp_path, n_trials=1)


def test_result_json_keeps_the_fullest_view_of_the_study(tmp_path, monkeypatch):
    """Drivers finishing together write result.json in any order: a staler view never replaces a fuller one."""
    import json

    from archscout.experiment import _result

    cfg = ExperimentConfig(strategy="rea", n_trials=10, run_dir=tmp_path, name="r")
    views = iter([{"study": "s", "storage": "u", "trials": {"complete": n, "failed": 0}} for n in (9, 10, 8)])
    monkeypatch.setattr(_result, "summarize", lambda store, config: next(views))
    written = [_result.write_result(None, cfg)["trials"]["complete"] for _ in range(3)]
    assert written == [9, 10, 8]  # each driver gets its own view back
    assert json.loads((tmp_path / "r" / "result.json").read_text())["trials"]["complete"] == 10
