"""``archscout search`` without --multi-trial: the main job from the command line (smoke sizes), its
JSON summary, and one-line errors with exit code 2."""

import json

import numpy as np
import pytest

from archscout.cli import main

SMOKE = ("search", "--suite", "digits-shift", "--profile", "smoke", "--method", "gdas")


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_main_job_prints_its_summary_and_resumes(capsys, tmp_path):
    args = (*SMOKE, "--run-dir", str(tmp_path), "--name", "m", "--json")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    summary = json.loads(out)
    for key in ("arch", "device", "latency_ms", "id_acc", "ood_acc", "selection_rule", "seeds", "baselines"):
        assert key in summary
    assert summary["device"] == "raspi4" and summary["max_latency_ms"] == 20.0 and summary["meets_budget"]
    assert summary["onnx"]["passed"] and summary["seeds"] == [0] and len(summary["baselines"]) == 5
    assert "[1/5] search" in err and "[5/5] report" in err  # one line per stage, on stderr
    for f in ("result.json", "report.html", "model.pt", "model.onnx"):
        assert (tmp_path / "m" / f).is_file()
    code, out2, err = run(capsys, *args)  # re-running reads every finished stage back
    assert code == 0 and json.loads(out2)["ood_acc"] == summary["ood_acc"] and "done earlier" in err
    code, out, err = run(capsys, *SMOKE, "--run-dir", str(tmp_path), "--name", "m")  # the table
    assert code == 0 and "11472" in out and "6111" in out and "training-domain validation" in out


def _one_domain(root):
    from PIL import Image

    for c in ("a", "b"):
        (root / "only" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(root / "only" / c / f"{i}.png")
    return root


@pytest.mark.parametrize("args,message", [
    (("--device", "rpi4"), "unknown device 'rpi4'"),
    (("--method", "bogus"), "unknown search method 'bogus'"),
    (("--baseline-method", "bogus"), "unknown one-shot method 'bogus'"),
    (("--profile", "huge"), "unknown profile 'huge'"),
    (("--max-latency", "0.001"), "raspi4_latency <= 0.001"),
    (("--max-latency", "-1"), "must be a positive number of ms"),
    (("--max-latency", "1"), "raspi4_latency <= 1 ms"),
    (("--max-latency", "fast"), "is not a number of ms"),
    (("--seeds", "0"), "--seeds 0 must be 1 or more"),
    (("--split", "nope"), "unknown split of digits-shift-v1 'nope'"),
    (("--suite", "nosuchsuite"), "unknown suite 'nosuchsuite'"),
    (("--space", "fbnet"), "unknown space of the main job"),
    (("--objective", "valid_error"), "--objective is an option of the multi-trial search"),
    (("--trials", "5"), "--trials is an option of the multi-trial search"),
    (("--multi-trial",), "--suite is an option of the main job"),
    (("--name", "../x"), "--name '../x' is not a run name"),
    (("--name", ""), "--name '' is not a run name"),
    (("--name", "a/b"), "--name 'a/b' is not a run name"),
    (("--name", "/abs"), "--name '/abs' is not a run name"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    code, out, err = run(capsys, *SMOKE, *args, "--run-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_a_dataset_with_one_domain_is_one_line_and_exit_2(capsys, tmp_path):
    folder = _one_domain(tmp_path / "data")
    code, out, err = run(capsys, *SMOKE, "--suite", str(folder), "--run-dir", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "one domain" in err, err


def test_corrupted_data_is_one_line_and_exit_2(capsys, tmp_path):
    folder = tmp_path / "data"
    _one_domain(folder)
    (folder / "other" / "a").mkdir(parents=True)
    (folder / "other" / "b").mkdir(parents=True)
    (folder / "other" / "a" / "x.png").write_bytes(b"not an image")
    (folder / "other" / "b" / "y.png").write_bytes(b"\x89PNG broken")
    code, out, err = run(capsys, *SMOKE, "--suite", str(folder), "--run-dir", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: "), err
