"""``archscout oneshot``: a one-shot search from the command line, its run directory and its errors."""

import json
import math

import pytest

from archscout.cli import main

TINY = ["--suite", "digits-shift", "--split", "style", "--epochs", "1"]


def test_oneshot_json_and_resume(tmp_path, capsys):
    args = ["oneshot", "--method", "gdas", *TINY, "--device", "raspi4", "--max-latency", "12",
            "--run-dir", str(tmp_path), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "gdas" and out["arch"].startswith("|") and 0 <= out["arch_index"] < 15625
    assert out["cost"]["meets_target"] is True and out["cost"]["value"] <= 12
    assert set(out["nb201_test_acc"]) == {"cifar10", "cifar100", "ImageNet16-120"}
    assert {"raspi4_latency", "pixel3_latency", "edgegpu_latency"} <= set(out["latency_ms"])
    assert out["entropy"]["uniform"] == pytest.approx(math.log(5)) and 0 < out["entropy"]["final"] <= math.log(5)
    stored = json.loads((tmp_path / out["run_dir"].split("/")[-1] / "result.json").read_text())
    assert stored["arch"] == out["arch"]
    assert main(args) == 0  # a finished run is read back, not searched again
    assert json.loads(capsys.readouterr().out)["arch"] == out["arch"]


def test_oneshot_bad_input_is_one_line(tmp_path, capsys):
    cases = ((["--method", "enas"], "enas"), (["--device", "toaster"], "toaster"),
             (["--device", "raspi4", "--max-latency", "0.001"], "minimum achievable"),
             (["--max-latency", "5"], "--device"), (["--method", "spos", "--space", "darts"], "darts"),
             (["--profile", "huge"], "huge"), (["--split", "nosuch"], "nosuch"))
    for args, word in cases:
        assert main(["oneshot", *TINY, "--run-dir", str(tmp_path), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err, (args, err)


def test_oneshot_text_flags_a_near_uniform_distribution(tmp_path, capsys):
    # one epoch leaves alpha at its initial 1e-3 scale: the output must say the arch rests on small differences
    assert main(["oneshot", "--method", "darts", *TINY, "--run-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mean edge entropy 1.609 nats (uniform 1.609): still near uniform" in out
