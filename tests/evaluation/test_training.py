"""The training evaluator: the search never reads the held-out domain, limits skip training, rungs stop
runs early, and a killed multi-trial run resumes without redoing finished training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from archscout.data import Domain, load_split
from archscout.evaluation import TrainingEvaluator, TrainingTask
from archscout.experiment import ExperimentConfig, run_experiment
from archscout.hardware import get_cost_model
from helpers import count_complete

optuna.logging.set_verbosity(optuna.logging.ERROR)
TINY = {"epochs": 2, "batch_size": 32, "net": {"C": 4, "N": 1}}


@pytest.fixture(scope="module")
def data():
    return load_split("digits-shift", "correlation", per_domain=60, size=8)


class Poisoned:
    """A held-out domain that fails the test if anything reads its images or labels."""

    def __init__(self, domain: Domain):
        self.name = domain.name
        self._n = len(domain)

    def __len__(self) -> int:
        return self._n

    def __getattr__(self, item):
        raise AssertionError(f"the held-out domain's {item!r} was read during the search")


def _with_test(data, make):
    d = replace(data, domains=dict(data.domains))
    for name in data.split.test:
        d.domains[name] = make(data.domains[name])
    return d


def _run(tmp_path, name, evaluator, trials=4):
    cfg = ExperimentConfig(strategy="rea", n_trials=trials, run_dir=tmp_path, name=name, seed=3)
    study = run_experiment(cfg, evaluator)
    return [t for t in study.trials if t.state == TrialState.COMPLETE]


def test_the_search_never_reads_the_heldout_domain(tmp_path, data):
    ev = TrainingEvaluator("nb201", TrainingTask(train=TINY), data=_with_test(data, Poisoned), report_heldout=False)
    trials = _run(tmp_path, "poisoned", ev)
    assert len(trials) == 4
    assert all("heldout_acc" not in t.user_attrs["archscout"]["reported"] for t in trials)


def test_the_strategy_sees_the_same_values_whatever_the_heldout_domain(tmp_path, data):
    """Held-out labels permuted: the held-out accuracy changes, what the strategy sees does not."""
    gen = torch.Generator().manual_seed(0)
    flipped = _with_test(data, lambda d: Domain(d.name, d.x, d.y[torch.randperm(len(d.y), generator=gen)]))
    runs = []
    for name, d in (("a", data), ("b", flipped)):
        ev = TrainingEvaluator("nb201", TrainingTask(train=TINY), data=d)
        runs.append(_run(tmp_path, name, ev))
    seen = [[(t.params, t.values, t.user_attrs["archscout"]["metrics"]) for t in trials] for trials in runs]
    assert seen[0] == seen[1]
    held = [[t.user_attrs["archscout"]["reported"]["heldout_acc"] for t in trials] for trials in runs]
    assert held[0] != held[1]
    assert all("heldout" not in k for t in runs[0] for k in t.user_attrs["archscout"]["metrics"])


def test_an_arch_over_a_limit_is_never_trained(tmp_path, data):
    lat = get_cost_model("nb201", "cifar10").column("raspi4_latency")
    ev = TrainingEvaluator("nb201", TrainingTask(train=TINY), data=data, limits={"raspi4_latency": 20.0},
                           run_dir=tmp_path)
    slow, fast = int(lat.argmax()), 186
    out = ev.evaluate(ev.space.from_index(slow))
    assert out.reported["trained"] == 0.0 and out.values["raspi4_latency"] > 20 and not any(tmp_path.iterdir())
    out = ev.evaluate(ev.space.from_index(fast))
    assert out.reported["trained"] == 1.0 and (tmp_path / "nb201-186" / "result.json").exists()


def test_rungs_stop_the_worse_runs_and_continue_the_better(tmp_path, data):
    train = {**TINY, "epochs": 4}
    ev = TrainingEvaluator("nb201", TrainingTask(train=train), data=data, run_dir=tmp_path, min_epochs=1, eta=2)
    assert ev.rungs == [1, 2]
    cells = [11472, 186, 6111, 3, 98, 2058]
    epochs = {c: ev.evaluate(ev.space.from_index(c)).reported["epochs_trained"] for c in cells}
    assert set(epochs.values()) <= {1.0, 2.0, 4.0} and 1.0 in epochs.values() and 4.0 in epochs.values()
    rungs = {c: json.loads((tmp_path / f"nb201-{c}" / "rungs.json").read_text()) for c in cells}
    for c, rec in rungs.items():  # stopped exactly where a rung said so
        stopped = [int(r) for r, v in rec.items() if not v["promoted"]]
        assert epochs[c] == (stopped[0] if stopped else 4)
    # a promoted run continued its own schedule: the same first epoch as if trained alone to the end
    full = [c for c in cells if epochs[c] == 4.0][0]
    alone = TrainingEvaluator("nb201", TrainingTask(train=train), data=data).evaluate(ev.space.from_index(full))
    assert alone.values["val_acc"] == pytest.approx(ev.evaluate(ev.space.from_index(full)).values["val_acc"])


def _launch(run_dir: Path, trials: int) -> list[str]:
    return [sys.executable, "-m", "archscout.cli", "search", "--multi-trial", "--evaluator", "train", "--suite",
            "digits-shift", "--split", "correlation", "--profile", "smoke", "--strategy", "random", "--trials",
            str(trials), "--workers", "2", "--name", "k", "--run-dir", str(run_dir), "--json"]


def _marked(mark: str) -> list[int]:
    """Live processes whose environment holds ``mark`` (Linux's /proc)."""
    pids = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in env.read_bytes():
                pids.append(int(env.parent.name))
        except OSError:
            pass
    return pids


def test_kill_9_resumes_with_the_exact_budget_and_no_training_redone(tmp_path):
    trials = 8
    db = tmp_path / "k" / "study.db"
    mark = f"ARCHSCOUT_TEST_MARK={os.getpid()}-{time.time_ns()}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    proc = subprocess.Popen(_launch(tmp_path, trials), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    while count_complete(db) < 3:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if Path("/proc/self/environ").exists():  # the killed driver's workers exit too: no orphan trains on
        deadline = time.time() + 10
        while _marked(mark) and time.time() < deadline:
            time.sleep(0.1)
        assert not _marked(mark)
    runs = tmp_path / "k" / "train"
    finished = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/checkpoint.pt")}
    assert finished
    again = subprocess.run(_launch(tmp_path, trials), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="k-v1", storage=f"sqlite:///{db}")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * trials
    archs = [t.user_attrs["archscout"]["arch"] for t in study.trials if not t.user_attrs["archscout"].get("repeat")]
    assert len(archs) == len(set(archs))
    for key, mtime in finished.items():  # smoke: one epoch, so a checkpoint is a finished training; kept as is
        assert (runs / key / "checkpoint.pt").stat().st_mtime_ns == mtime, key
    assert json.loads(again.stdout)["trials"]["complete"] == trials
    # two workers: two trainings overlapped in time (each run's config.json is written as it starts)
    spans = sorted((p.stat().st_mtime, (p.parent / "result.json").stat().st_mtime)
                   for p in runs.glob("*/config.json") if (p.parent / "result.json").exists())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


def test_accelerator_is_a_run_only_option_and_an_absent_one_is_one_line(data):
    from archscout.exceptions import ArchscoutError
    from helpers import one_line

    ev = TrainingEvaluator("nb201", data=data, task=TrainingTask(train=TINY), accelerator="cpu", precision="bf16")
    assert ev.config.accelerator == "cpu" and ev.config.precision == "bf16"
    keys = [ExperimentConfig(evaluator="train", evaluator_options={"accelerator": a, "precision": p}).search_key()
            for a, p in (("cpu", "fp32"), ("auto", "bf16"))]
    assert keys[0] == keys[1]  # a study resumes on another accelerator
    if not torch.cuda.is_available():
        one_line(ArchscoutError, lambda: TrainingEvaluator("nb201", data=data, accelerator="cuda"), "'cuda'",
                 "not available")
    one_line(ArchscoutError, lambda: ExperimentConfig(gpus_per_trial=0.5), "needs executor 'ray'")
    one_line(ArchscoutError, lambda: ExperimentConfig(executor="ray", gpus_per_trial=-1), "gpus_per_trial -1")
