"""``archscout bench`` through the CLI: JSON object, files, one-line errors."""

import json

import pytest

from archscout.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_bench_json_and_files(capsys, tmp_path):
    code, out, _ = run(capsys, "bench", "--dataset", "cifar100", "--strategies", "rea,ls,optuna-tpe", "--seeds", "3",
                       "--budget", "60", "--json", "--out", str(tmp_path))
    assert code == 0
    obj = json.loads(out)  # exactly one JSON object on stdout
    assert obj["budget"] == 60 and obj["seeds"] == 3 and list(obj["strategies"]) == ["rea", "ls", "optuna-tpe"]
    for e in obj["strategies"].values():
        assert set(e["regret"]) == {"50", "60"} and set(e["reported_test_acc"]) == {"50", "60"}
        assert e["median_queries_to_best"] is None or 1 <= e["median_queries_to_best"] <= 60
        assert all(v >= 0 for v in e["regret"].values())
    for name in ("summary.csv", "curves.csv", "anytime.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "anytime.png").read_bytes()[:4] == b"\x89PNG"
    curves = (tmp_path / "curves.csv").read_text().splitlines()
    assert curves[0] == "strategy,queries,mean,std,q25,median,q75" and len(curves) == 1 + 3 * 60


def test_bench_pareto_table(capsys, tmp_path):
    code, out, _ = run(capsys, "bench", "--objective", "valid_error", "--objective", "latency@raspi4",
                       "--strategies", "random,optuna-nsga2", "--seeds", "2", "--budget", "50", "--out", str(tmp_path))
    assert code == 0 and "HV@50" in out and "48" in out and "front@50" in out


def test_bench_all_fits_the_objectives(capsys, tmp_path):
    code, out, _ = run(capsys, "bench", "--objective", "valid_error", "--objective", "latency@edgegpu",
                       "--strategies", "all", "--seeds", "1", "--budget", "20", "--json", "--out", str(tmp_path))
    names = set(json.loads(out)["strategies"])
    assert code == 0 and {"random", "optuna-nsga2", "optuna-tpe"} <= names and "rea" not in names


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "budget 0 must be a positive number"),
    (["--seeds", "0"], "--seeds 0 must be a positive number"),
    (["--strategies", "rea,foo"], "unknown strategy 'foo'"),
    (["--objective", "latency@mars"], "unknown device 'mars'"),
    (["--objective", "valid_acc", "--constraint", "latency@raspi4 <= 0"], "no architecture meets the constraints"),
    (["--space", "fbnet"], "space with a complete table (bench) 'fbnet'"),
    (["--dataset", "imagenet"], "unknown nb201 dataset 'imagenet'"),
    (["--strategies", "optuna-nsga2"], "does not handle 1 objective"),
])
def test_bench_bad_input_one_line(capsys, tmp_path, args, message):
    code, out, err = run(capsys, "bench", "--out", str(tmp_path), *args)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
