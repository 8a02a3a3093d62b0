"""``archscout search --multi-trial``: the run directory, result.json, resume, and one-line errors (exit 2)."""

import importlib.util
import json

import pytest

from archscout.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_writes_the_run_directory_and_resumes(capsys, tmp_path):
    args = ("search", "--multi-trial", "--trials", "25", "--seed", "3", "--run-dir", str(tmp_path), "--name", "s")
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    result = json.loads(out)
    run_dir = tmp_path / "s"
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "study.db", "result.json"}
    assert json.loads((run_dir / "result.json").read_text()) == result
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["strategy"], config["seed"], config["n_trials"]) == ("rea", 3, 25)
    best = result["best"]
    assert result["trials"] == {"complete": 25, "failed": 0, "running": 0, "void": 0}
    assert result["seed"] == 3 and {"archscout", "optuna", "python"} <= set(result["versions"])
    assert best["objectives"]["valid_error"] > 0 and 0 < best["reported"]["test_acc"] < 100
    assert {"raspi4_latency", "edgegpu_energy", "fpga_latency", "params", "flops"} <= set(best["costs"])
    assert best["arch"].startswith("|") and 0 <= best["index"] < 15625
    # the same command with a larger budget resumes: 25 kept, 10 more
    code, out, _ = run(capsys, *args[:3], "35", *args[4:], "--json")
    assert code == 0 and json.loads(out)["trials"]["complete"] == 35
    # without --json: a table and where the run lives
    code, out, _ = run(capsys, *args[:3], "35", *args[4:])
    assert code == 0 and "best architecture" in out and "run directory" in out


def test_search_pareto_front_with_constraint(capsys, tmp_path):
    code, out, err = run(capsys, "search", "--multi-trial", "--trials", "40", "--strategy", "random",
                         "--objective", "valid_error", "--objective", "latency@raspi4",
                         "--constraint", "latency@raspi4 <= 8", "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    result = json.loads(out)
    front = result["pareto_front"]
    assert front and result["constraints"] == ["raspi4_latency <= 8"]
    assert [f["objectives"]["valid_error"] for f in front] == sorted(f["objectives"]["valid_error"] for f in front)
    assert all(f["objectives"]["raspi4_latency"] <= 8 and f["constraints"]["raspi4_latency <= 8"] <= 0 for f in front)


def test_search_on_fbnet_cost_tables(capsys, tmp_path):
    code, out, err = run(capsys, "search", "--multi-trial", "--space", "fbnet", "--objective", "latency@raspi4",
                         "--trials", "15", "--strategy", "random", "--run-dir", str(tmp_path), "--json")
    assert code == 0, err
    best = json.loads(out)["best"]
    assert len(best["arch"].split()) == 22 and best["costs"]["raspi4_latency"] == best["objectives"]["raspi4_latency"]


@pytest.mark.parametrize("args,message", [
    (("--method", "bogus"), "bogus"),  # without --multi-trial: the main job (tests/cli/test_search_main.py)
    (("--multi-trial", "--objective", "accuracy"), "unknown metric 'accuracy'"),
    (("--multi-trial", "--objective", "latency@rpi"), "unknown device 'rpi'"),
    (("--multi-trial", "--constraint", "latency@rpi4 <= 3"), "unknown device 'rpi4'"),
    (("--multi-trial", "--constraint", "latency@raspi4 = 3"), "is not 'metric <= number'"),
    (("--multi-trial", "--strategy", "bogus"), "unknown strategy 'bogus'"),
    (("--multi-trial", "--trials", "0"), "budget n_trials=0 must be a positive number"),
    (("--multi-trial", "--trials", "-3"), "budget n_trials=-3"),
    (("--multi-trial", "--trials", "٣"), "is not an integer"),
    (("--multi-trial", "--storage", "notadb://x"), "storage 'notadb://x' cannot be opened"),
    (("--multi-trial", "--storage", "sqlite://"), "in-memory SQLite is private"),
    (("--multi-trial", "--storage", "journal:"), "journal: needs a file path"),
    (("--multi-trial", "--storage", "postgresql+psycopg2://u:secret@127.0.0.1:1/db"), "cannot be opened"),
    (("--multi-trial", "--executor", "bogus"), "unknown executor 'bogus'"),
    (("--multi-trial", "--executor", "inline", "--workers", "2"), "executor 'inline' evaluates one arch at a time"),
    (("--multi-trial", "--workers", "0"), "n_workers=0 must be a positive number"),
    (("--multi-trial", "--ray-address", "auto"), "ray_address is for executor 'ray'"),
    (("--multi-trial", "--evaluator", "bogus"), "unknown evaluator 'bogus'"),
    (("--multi-trial", "--signal", "val_acc"), "--signal is an option of --evaluator train"),
    (("--multi-trial", "--suite", "digits-shift"), "--suite is an option of the main job (with --multi-trial, of "
                                                   "--evaluator train only)"),
    (("--multi-trial", "--evaluator", "train", "--suite", "digits-shift", "--signal", "oracle"),
     "unknown search signal 'oracle'"),
    (("--multi-trial", "--evaluator", "train", "--suite", "digits-shift", "--constraint", "latency@rpi4 <= 3"),
     "unknown device 'rpi4'"),
    (("--multi-trial", "--evaluator", "train", "--suite", "nosuchsuite"), "unknown suite 'nosuchsuite'"),
    (("--multi-trial", "--space", "darts"), "unknown space with a tabular evaluator 'darts'"),
    (("--multi-trial", "--space", "fbnet"), "fbnet has cost tables but no accuracy"),
    (("--multi-trial", "--space", "fbnet", "--objective", "valid_error"), "unknown metric of the tabular evaluator"),
    (("--multi-trial", "--dataset", "mnist"), "unknown"),
    (("--multi-trial", "--constraint", "latency@raspi4 <= 0.01"), "no architecture meets the constraints"),
    (("--multi-trial", "--space", "fbnet", "--objective", "params", "--constraint", "latency@raspi4 <= 1"),
     "no architecture meets the constraint"),
    (("--multi-trial", "--name", "../x"), "--name '../x' is not a run name"),
    (("--multi-trial", "--objective", "valid_error", "--objective", "params", "--strategy", "rea"),
     "strategy 'rea' optimizes one objective but the search has 2; multi-objective strategies: "),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    code, out, err = run(capsys, "search", *args, "--run-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "secret" not in err  # passwords never printed


def test_resume_with_other_objectives_is_refused(capsys, tmp_path):
    base = ("search", "--multi-trial", "--trials", "5", "--run-dir", str(tmp_path), "--name", "same")
    assert run(capsys, *base)[0] == 0
    code, _, err = run(capsys, *base, "--objective", "params")
    assert code == 2 and err.count("\n") == 1 and "use another" in err


def test_missing_ray_is_one_line(capsys, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    code, _, err = run(capsys, "search", "--multi-trial", "--executor", "ray", "--run-dir", str(tmp_path))
    assert code == 2 and err == "error: executor 'ray' needs Ray: pip install 'archscout[ray]'\n"
