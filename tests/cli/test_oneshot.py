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


def test_kill_9_then_the_same_command_resumes_to_the_uninterrupted_result(tmp_path):
    from helpers import kill_and_resume

    args = ["oneshot", "--method", "darts", "--suite", "digits-shift", "--split", "style", "--epochs", "3",
            "--threads", "1", "--accelerator", "cpu", "--json"]
    killed, full = kill_and_resume(args, tmp_path, 3)
    a, b = (json.loads((d / "result.json").read_text()) for d in (killed, full))
    assert a["arch"] == b["arch"] and a["distribution"] == b["distribution"]  # exactly, not approximately
    strip = lambda r: [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]  # noqa: E731
    assert strip(a) == strip(b) and len(strip(a)) == 3


def test_oneshot_names_values_and_corrupt_files_are_one_line(tmp_path, capsys):
    from helpers import plant_checkpoint

    cases = ((["--name", "../../x"], "--name '../../x' is not a run name"),
             (["--name", ""], "--name '' is not a run name"),
             (["--name", "a/b"], "--name 'a/b' is not a run name"),
             (["--name", str(tmp_path / "abs")], "is not a run name"),
             (["--device", "raspi4", "--cost-weight", "inf"], "'--cost-weight': 'inf' is not a finite number"),
             (["--device", "raspi4", "--cost-weight", "1e309"], "'--cost-weight': '1e309' is not a finite number"),
             (["--device", "raspi4", "--max-latency", "1e309"], "'--max-latency': '1e309' is not a finite"))
    for args, text in cases:
        assert main(["oneshot", *TINY, "--run-dir", str(tmp_path / "runs"), *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, (args, err)
    assert not list(tmp_path.iterdir())  # nothing written, inside or outside --run-dir
    args = ["oneshot", "--method", "darts", *TINY, "--run-dir", str(tmp_path), "--name", "o", "--json"]
    assert main(args) == 0
    capsys.readouterr()
    ckpt = tmp_path / "o" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot read checkpoint {ckpt}: truncated or corrupt" in err
    assert f"delete {ckpt} (or the run folder) or use another --name" in err
    plant_checkpoint(ckpt, tmp_path / "pwned")
    assert main(args) == 2
    assert "holds objects other than tensors" in capsys.readouterr().err and not (tmp_path / "pwned").exists()


def test_a_non_finite_cost_weight_or_target_is_refused_by_the_cost_term():
    from archscout.exceptions import ArchscoutError
    from archscout.oneshot import OpCost
    from helpers import one_line

    cost = OpCost.fit("nb201", "raspi4")
    for target, weight, text in ((float("inf"), 1.0, "cost target inf"), (20.0, float("inf"), "cost weight inf"),
                                 (20.0, float("nan"), "cost weight nan"), (float("nan"), 1.0, "cost target nan")):
        one_line(ArchscoutError, lambda: cost.with_target(target, weight), text, "finite")
    assert cost.with_target(20.0, 2.0).weight == 2.0
