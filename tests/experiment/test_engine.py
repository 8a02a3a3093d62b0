"""The multi-trial engine under stress: kill -9 and resume, several worker processes on one study
(SQLite and PostgreSQL), failed evaluations, executors (process pool, Ray), storages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from archscout.experiment import ExperimentConfig, run_experiment
from archscout.strategies import arch_distributions, arch_from_params

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # evaluator_helpers must be importable by worker processes too
import evaluator_helpers  # noqa: E402
from helpers import count_complete  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)

POSTGRES = os.environ.get("ARCHSCOUT_TEST_POSTGRES")
NEEDS_POSTGRES = pytest.mark.skipif(
    not POSTGRES, reason="no PostgreSQL server: set ARCHSCOUT_TEST_POSTGRES to an SQLAlchemy URL "
                         "(.ci/run starts one)")
LAUNCH = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import evaluator_helpers; "
          "from archscout.cli import main; sys.exit(main(sys.argv[1:]))")


def command(run_dir: Path, name: str, trials: int, storage: str | None = None, strategy: str = "rea") -> list[str]:
    """The same `archscout search` command every worker runs (evaluator `slow`: 10 ms per arch)."""
    cmd = [sys.executable, "-c", LAUNCH, "search", "--multi-trial", "--evaluator", "slow", "--strategy", strategy,
           "--trials", str(trials), "--name", name, "--run-dir", str(run_dir), "--json"]
    return cmd + (["--storage", storage] if storage else [])


def load(name: str, storage: str) -> optuna.Study:
    return optuna.load_study(study_name=f"{name}-v1", storage=storage)


def by_state(study: optuna.Study) -> Counter:
    return Counter(t.state for t in study.trials)


def archs_evaluated(study: optuna.Study) -> list:
    """Archs of the COMPLETE trials that were evaluated (not answered as repeats)."""
    space = study.sampler.space if hasattr(study.sampler, "space") else None
    from archscout.spaces import get_space

    space = space or get_space("nb201")
    return [arch_from_params(space, t.params) for t in study.trials
            if t.state == TrialState.COMPLETE and not t.user_attrs["archscout"].get("repeat")]


def test_kill_9_then_the_same_command_resumes(tmp_path):
    cmd = command(tmp_path, "k", 100)
    db = tmp_path / "k" / "study.db"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while count_complete(db) < 30:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    url = f"sqlite:///{db}"
    before = {t.number: t for t in load("k", url).trials}
    running = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert 30 <= sum(t.state == TrialState.COMPLETE for t in before.values()) < 100

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    study = load("k", url)
    assert by_state(study) == {TrialState.COMPLETE: 100} and [t.number for t in study.trials] == list(range(100))
    for n, t in before.items():  # finished trials kept as they were; the running one was taken over
        if t.state == TrialState.COMPLETE:
            assert (study.trials[n].params, study.trials[n].value) == (t.params, t.value)
    for n in running:
        assert study.trials[n].params == before[n].params and study.trials[n].state == TrialState.COMPLETE
    archs = archs_evaluated(study)
    assert len(archs) == len(set(archs)) == 100  # no arch evaluated twice
    assert json.loads(again.stdout)["trials"] == {"complete": 100, "failed": 0, "running": 0, "void": 0}


def run_workers(tmp_path: Path, name: str, trials: int, n: int, storage: str | None, strategy: str = "rea"):
    procs = [subprocess.Popen(command(tmp_path, name, trials, storage, strategy), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err.lower() and "deadlock" not in err.lower(), err
    return [json.loads(out) for out, _ in outs]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=NEEDS_POSTGRES)])
def test_four_worker_processes_share_one_study(tmp_path, backend):
    name = f"w{uuid.uuid4().hex[:8]}"
    storage = POSTGRES if backend == "postgresql" else None
    results = run_workers(tmp_path, name, 400, 4, storage)
    study = load(name, storage or f"sqlite:///{tmp_path / name / 'study.db'}")
    assert by_state(study) == {TrialState.COMPLETE: 400}  # exactly the budget: none over, none void
    assert sorted(t.number for t in study.trials) == list(range(400))
    archs = archs_evaluated(study)
    assert len(archs) == len(set(archs)) == 400  # each arch proposed once across the workers
    owners = Counter(t.system_attrs["archscout:worker"] for t in study.trials)
    assert len(owners) >= 2, owners  # the workers really shared the work
    assert max(r["trials"]["complete"] for r in results) == 400


def test_workers_with_an_optuna_sampler_keep_the_budget(tmp_path):
    """Optuna's own samplers go through study.ask: trials beyond the budget are voided, never counted."""
    name = "ask"
    run_workers(tmp_path, name, 30, 3, None, strategy="optuna-random")
    study = load(name, f"sqlite:///{tmp_path / name / 'study.db'}")
    counted = [t for t in study.trials if "archscout:void" not in t.system_attrs]
    assert len(counted) == 30 and all(t.state == TrialState.COMPLETE for t in counted)
    assert all(t.state == TrialState.FAIL for t in study.trials if t not in counted)
    # no driver took over another's trial (all three lived): the only voids are the over-budget ones
    assert all(t.system_attrs["archscout:void"].startswith("over budget") for t in study.trials if t not in counted)


@NEEDS_POSTGRES
def test_postgresql_run_and_resume(tmp_path):
    name = f"pg{uuid.uuid4().hex[:8]}"
    cfg = ExperimentConfig(strategy="ls", n_trials=30, run_dir=tmp_path, name=name, storage=POSTGRES,
                           constraints=("latency@raspi4 <= 10",))
    run_experiment(cfg)
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 45}))
    assert by_state(study) == {TrialState.COMPLETE: 45}
    assert study.best_trial.constraints["0"] <= 0


def test_failed_evaluation_is_a_fail_trial_with_its_error(tmp_path):
    cfg = ExperimentConfig(strategy="random-noreplace", n_trials=60, seed=2, run_dir=tmp_path, name="f")
    study = run_experiment(cfg, evaluator=evaluator_helpers.WrappedFactory(fail_every=4))
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and len(study.trials) == 60
    for t in failed:
        assert t.user_attrs["archscout"]["error"].startswith("ValueError: flaky evaluator refuses arch")
        assert "archscout:void" not in t.system_attrs
    result = json.loads((tmp_path / "f" / "result.json").read_text())
    assert result["trials"]["failed"] == len(failed) and result["best"]["reported"]["test_acc"] > 0


def test_process_pool_executor(tmp_path):
    cfg = ExperimentConfig(strategy="rea", n_trials=24, run_dir=tmp_path, name="pp", executor="process", n_workers=2)
    study = run_experiment(cfg, evaluator=evaluator_helpers.WrappedFactory(delay=0.02, fail_every=5))
    states = by_state(study)
    assert states[TrialState.COMPLETE] + states[TrialState.FAIL] == 24 == len(study.trials)
    assert all("flaky" in t.user_attrs["archscout"]["error"] for t in study.trials if t.state == TrialState.FAIL)


def test_ray_executor(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'archscout[ray]'")
    ray.cloudpickle.register_pickle_by_value(evaluator_helpers)  # Ray's workers do not share our sys.path
    cfg = ExperimentConfig(strategy="random-noreplace", n_trials=16, run_dir=tmp_path, name="ray", executor="ray",
                           n_workers=2)
    study = run_experiment(cfg, evaluator=evaluator_helpers.WrappedFactory(fail_every=3))
    states = by_state(study)
    assert states[TrialState.COMPLETE] + states[TrialState.FAIL] == 16 == len(study.trials)
    assert all("flaky" in t.user_attrs["archscout"]["error"] for t in study.trials if t.state == TrialState.FAIL)


class _Interrupting(evaluator_helpers.Wrapped):
    def __init__(self, after: int):
        super().__init__()
        self.calls, self.after = 0, after

    def evaluate(self, arch, budget=None):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return super().evaluate(arch, budget)


def test_interrupted_run_voids_its_trial_and_resumes(tmp_path):
    cfg = ExperimentConfig(strategy="rea", n_trials=20, run_dir=tmp_path, name="ctrl-c")
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, evaluator=_Interrupting(after=7))
    study = run_experiment(cfg)
    void = [t for t in study.trials if "archscout:void" in t.system_attrs]
    assert len(void) == 1 and void[0].state == TrialState.FAIL
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 20


def test_ctrl_c_at_any_moment_ends_the_run_at_once_and_leaves_no_running_trial(tmp_path):
    """A Ctrl-C landing inside a step's database transaction used to leave it open: the clean-up's own step
    then waited out SQLite's 60 s busy timeout before the run ended (with its trials still RUNNING)."""
    import random
    import threading

    rng = random.Random(0)
    for i in range(4):
        cfg = ExperimentConfig(strategy="rea", n_trials=100_000, run_dir=tmp_path, name=f"c{i}")
        fired: list[float] = []

        def ctrl_c() -> None:
            fired.append(time.time())
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(rng.uniform(0.0, 0.5), ctrl_c)  # started once the search runs

        def progress(p, timer=timer) -> None:
            if not timer.is_alive() and timer.ident is None:
                timer.start()

        with pytest.raises(KeyboardInterrupt):
            run_experiment(cfg, progress=progress)
        assert time.time() - fired[0] < 5, f"run {i} took {time.time() - fired[0]:.0f} s to stop"
        study = load(f"c{i}", cfg.storage_url())
        assert TrialState.RUNNING not in by_state(study)  # its trials were given up (void)
        counted = sum("archscout:void" not in t.system_attrs for t in study.trials)
        study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": counted + 3}))
        assert sum(t.state == TrialState.COMPLETE for t in study.trials) == counted + 3


@pytest.mark.parametrize("storage", ["memory", "journal"])
def test_other_storages(tmp_path, storage):
    url = "memory" if storage == "memory" else f"journal:{tmp_path / 'j.log'}"
    cfg = ExperimentConfig(strategy="rea", n_trials=25, run_dir=tmp_path, name="o", storage=url)
    study = run_experiment(cfg)
    assert by_state(study) == {TrialState.COMPLETE: 25}
    if storage == "journal":  # resumes from the file
        assert by_state(run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 30}))) == \
            {TrialState.COMPLETE: 30}


def test_fast_path_study_is_a_normal_optuna_study(tmp_path):
    """Trials written by the one-transaction path read back like Optuna's own, and TPE continues on them."""
    cfg = ExperimentConfig(strategy="random", n_trials=20, run_dir=tmp_path, name="v",
                           objectives=("valid_error", "latency@edgegpu"), constraints=("latency@edgegpu <= 9",))
    study = run_experiment(cfg)
    url = cfg.storage_url()
    fresh = optuna.load_study(study_name="v-v1", storage=url)
    space = study.sampler.space
    for t in fresh.trials:
        assert t.distributions == arch_distributions(space) and len(t.values) == 2
        assert t.datetime_complete >= t.datetime_start and set(t.constraints) == {"0"}
        assert t.user_attrs["archscout"]["arch"] == space.to_str(arch_from_params(space, t.params))
    assert len(fresh.trials_dataframe()) == 20 and fresh.best_trials
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "strategy": "optuna-nsga2", "n_trials": 30}))
    assert by_state(study) == {TrialState.COMPLETE: 30}


def test_stale_trials_of_a_driver_elsewhere_follow_its_heartbeat():
    from datetime import datetime, timedelta

    from archscout.experiment._store import Ledger, TrialInfo
    from archscout.experiment._worker import HEARTBEAT_KEY, STALE_AFTER_S, new_worker_id
    from archscout.spaces import get_space

    space = get_space("nb201")
    led = Ledger(space, ["minimize"])
    me, other = new_worker_id(), "elsewhere:123:456:abcd"
    arch = space.sample(0)
    led.see(TrialInfo(1, 0, TrialState.RUNNING, arch, other, started=datetime.now() - timedelta(hours=1)))
    fresh = {HEARTBEAT_KEY + other: time.time() - 1}
    old = {HEARTBEAT_KEY + other: time.time() - STALE_AFTER_S - 1}
    assert led.stale(me, lambda: fresh) == [] and [t.trial_id for t in led.stale(me, lambda: old)] == [1]
    assert [t.trial_id for t in led.stale(me, dict)] == [1]  # never beat, started long ago


def test_ray_is_imported_only_when_chosen():
    code = ("import sys, archscout.experiment as e; e.ExperimentConfig(executor='process', n_workers=2); "
            "print(sorted(m for m in ('ray', 'psycopg2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_running_trial_of_a_dead_driver_is_taken_over(tmp_path):
    import socket

    from archscout.spaces import get_space

    cfg = ExperimentConfig(strategy="rea", n_trials=8, run_dir=tmp_path, name="t")
    study = run_experiment(ExperimentConfig(**{**cfg.__dict__, "n_trials": 5}))
    space = get_space("nb201")
    arch = next(a for a in (space.sample(i) for i in range(100)) if a not in set(archs_evaluated(study)))
    dead = f"{socket.gethostname()}:999999999:1:gone"  # no such process on this host
    left = optuna.trial.create_trial(state=TrialState.RUNNING, params=dict(zip(space.param_names, arch.ops)),
                                     distributions=arch_distributions(space), system_attrs={"archscout:worker": dead})
    study._storage.create_new_trial(study._study_id, template_trial=left)
    study = run_experiment(cfg)
    assert by_state(study) == {TrialState.COMPLETE: 8}
    taken = study.trials[5]
    assert arch_from_params(space, taken.params) == arch and taken.system_attrs["archscout:worker"] != dead
