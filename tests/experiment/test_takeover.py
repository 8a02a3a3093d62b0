"""Who may take a RUNNING trial over: a dead driver's at once, a driverless one only while no live driver is
inside ``study.ask``, a live driver's never; through both stores (optuna-tpe: Optuna's API, rea: one SQL step)."""

from __future__ import annotations

import socket
import time
from collections import Counter
from datetime import datetime

import optuna
import pytest
from optuna.trial import TrialState

from archscout.experiment import ExperimentConfig, run_experiment
from archscout.experiment._store import OWNER, VOID, Ledger, OptunaTrialStore, SQLTrialStore, TrialInfo
from archscout.experiment._worker import ASKING_KEY, HEARTBEAT_KEY, STALE_AFTER_S, new_worker_id, retire
from archscout.spaces import get_space
from archscout.strategies import arch_distributions, arch_from_params

optuna.logging.set_verbosity(optuna.logging.ERROR)
SPACE = get_space("nb201")
DEAD = f"{socket.gethostname()}:999999999:1:gone"  # no such process on this host


def _ledger_with_driverless_trial() -> Ledger:
    led = Ledger(SPACE, ["minimize"])
    led.see(TrialInfo(1, 0, TrialState.RUNNING, SPACE.sample(0), None, started=datetime.now()))
    return led


def test_a_driverless_trial_waits_only_for_live_drivers_inside_ask():
    led, me, far = _ledger_with_driverless_trial(), new_worker_id(), "elsewhere:12:34:abcd"
    now = time.time()
    stale = lambda attrs: [t.trial_id for t in led.stale(me, lambda: attrs)]  # noqa: E731
    assert stale({}) == [1]  # nobody asking: an orphan, taken at once
    assert stale({ASKING_KEY + far: now, HEARTBEAT_KEY + far: now}) == []  # a live driver is inside ask
    assert stale({ASKING_KEY + far: None, HEARTBEAT_KEY + far: now}) == [1]  # its flag is down again
    assert stale({ASKING_KEY + far: now, HEARTBEAT_KEY + far: now - STALE_AFTER_S - 1}) == [1]  # it died
    assert stale({ASKING_KEY + DEAD: now}) == [1]  # a dead process on this host
    assert stale({ASKING_KEY + me: now}) == [1]  # its own flag does not hold a driver back
    retire(me)


def _study(tmp_path, strategy: str, n: int = 5) -> tuple[ExperimentConfig, optuna.Study]:
    """``rea-journal``: archscout's strategy through Optuna's API (a journal file has no SQL fast path)."""
    name = strategy.removesuffix("-journal")
    cfg = ExperimentConfig(strategy=name, n_trials=n, run_dir=tmp_path, name=name,
                           storage=f"journal:{tmp_path / 'j.log'}" if name != strategy else None)
    return cfg, run_experiment(cfg)


def _leave(study: optuna.Study, owner: str | None, void: str | None = None) -> tuple[int, object]:
    """A RUNNING trial of an arch the study has not evaluated, as a driver that stopped would leave it."""
    seen = {arch_from_params(SPACE, t.params) for t in study.trials}
    arch = next(a for a in (SPACE.sample(i) for i in range(100)) if a not in seen)
    attrs = {k: v for k, v in ((OWNER, owner), (VOID, void)) if v is not None}
    left = optuna.trial.create_trial(state=TrialState.RUNNING, params=dict(zip(SPACE.param_names, arch.ops)),
                                     distributions=arch_distributions(SPACE), system_attrs=attrs)
    return study._storage.create_new_trial(study._study_id, template_trial=left), arch


def _trial(study: optuna.Study, trial_id: int) -> optuna.trial.FrozenTrial:
    return next(t for t in optuna.load_study(study_name=study.study_name, storage=study._storage).trials
                if t._trial_id == trial_id)


@pytest.mark.parametrize("strategy", ["optuna-tpe", "rea", "rea-journal"])
def test_a_live_drivers_driverless_trial_is_left_alone_until_it_dies(tmp_path, strategy):
    cfg, study = _study(tmp_path, strategy)
    tid, arch = _leave(study, owner=None)
    live = new_worker_id()  # a driver of this process, alive, inside study.ask
    study._storage.set_study_system_attr(study._study_id, ASKING_KEY + live, time.time())
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 8}))
    assert Counter(t.state for t in study.trials) == {TrialState.COMPLETE: 7, TrialState.RUNNING: 1}
    assert _trial(study, tid).state == TrialState.RUNNING and not _trial(study, tid).system_attrs
    retire(live)  # now it is dead: the next run takes its trial over
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 8}))
    counted = [t for t in study.trials if VOID not in t.system_attrs]
    assert len(counted) == 8 and all(t.state == TrialState.COMPLETE for t in counted)
    assert arch in {arch_from_params(SPACE, t.params) for t in counted}  # its arch evaluated (in place or re-run)


@pytest.mark.parametrize("strategy", ["optuna-tpe", "rea", "rea-journal"])
def test_a_dead_drivers_trial_is_taken_over_at_the_next_start(tmp_path, strategy):
    cfg, study = _study(tmp_path, strategy)
    tid, arch = _leave(study, owner=DEAD)
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 8}))
    counted = [t for t in study.trials if VOID not in t.system_attrs]
    assert len(counted) == 8 and all(t.state == TrialState.COMPLETE for t in counted)
    redo = [t for t in counted if arch_from_params(SPACE, t.params) == arch]
    assert len(redo) == 1 and redo[0].system_attrs[OWNER] != DEAD
    left = _trial(study, tid)
    if strategy == "rea":  # the one-transaction path takes it over in place
        assert left.state == TrialState.COMPLETE and left.number == redo[0].number
    else:  # Optuna's API: voided (one driver wins that FAIL) and re-run as a new trial
        assert left.state == TrialState.FAIL and left.system_attrs[VOID].startswith("its driver died")


@pytest.mark.parametrize("strategy", ["optuna-tpe", "rea"])
def test_a_trial_its_dead_driver_was_giving_up_is_voided_not_run(tmp_path, strategy):
    cfg, study = _study(tmp_path, strategy)
    tid, arch = _leave(study, owner=DEAD, void="interrupted before the evaluation was recorded")
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 8}))
    assert _trial(study, tid).state == TrialState.FAIL
    assert arch not in {arch_from_params(SPACE, t.params) for t in study.trials if t.state == TrialState.COMPLETE}
    assert Counter(t.state for t in study.trials) == {TrialState.COMPLETE: 8, TrialState.FAIL: 1}


@pytest.mark.parametrize("strategy", ["optuna-tpe", "rea"])
def test_a_driver_naming_itself_after_the_scan_keeps_its_trial(tmp_path, strategy):
    """The stale scan saw no driver and no flag; the driver named itself (and lowered its flag) just after:
    the re-read before the take-over must see it."""
    cfg, study = _study(tmp_path, strategy)
    tid, _ = _leave(study, owner=None)
    me, live = new_worker_id(), new_worker_id()
    if strategy == "rea":  # the SQL store scans and takes over inside one transaction
        store = SQLTrialStore(study, SPACE, 8, me)
        [t] = store._transaction(lambda conn: (store._sync(conn), store.ledger.stale(me, dict))[1])
    else:
        store = OptunaTrialStore(study, SPACE, 8, me, use_ask=True)
        store._sync()
        [t] = store.ledger.stale(me, dict)
    assert t.trial_id == tid and t.owner is None
    study._storage.set_trial_system_attr(tid, OWNER, live)
    if strategy == "rea":
        assert store._transaction(lambda conn: store._take_over(conn, t, datetime.now())) is None
    else:
        assert store._take_over(t) is None
    after = _trial(study, tid)
    assert after.state == TrialState.RUNNING and after.system_attrs == {OWNER: live}
    retire(me)
    retire(live)
