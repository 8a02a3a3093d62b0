import optuna
import pytest

from archscout.experiment import ExperimentConfig, run_experiment
from archscout.strategies import create_strategy, list_strategies

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("name", list_strategies())
def test_strategy_runs_in_an_experiment(tmp_path, name):
    cfg = ExperimentConfig(strategy=name, n_trials=60, seed=3, run_dir=tmp_path, name=name)
    study = run_experiment(cfg)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 60
    assert isinstance(create_strategy(name, study.sampler.space, seed=0), optuna.samplers.BaseSampler)
