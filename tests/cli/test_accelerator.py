"""``--accelerator`` and ``--precision`` of oneshot, space evolve and data shift: an absent or unknown
accelerator, or an unknown precision, is one line and exit code 2; ``cpu`` runs and is recorded."""

import json

import pytest
import torch

from archscout.cli import main

COMMANDS = {
    "oneshot": ["oneshot", "--suite", "digits-shift", "--split", "style", "--epochs", "1"],
    "space": ["space", "evolve", "--suite", "digits-shift", "--split", "correlation", "--profile", "ci",
              "--iterations", "1", "--per-domain", "40"],
    "shift": ["data", "shift", "--suite", "digits-shift", "--split", "correlation", "--trials", "1", "--epochs", "2",
              "--dim-z", "2", "--samples", "500", "--per-domain", "100"],
}


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_absent_cuda_is_one_line_and_exit_2(capsys, tmp_path, command):
    extra = [] if command == "shift" else ["--run-dir", str(tmp_path)]
    code, _, err = run(capsys, *COMMANDS[command], *extra, "--accelerator", "cuda")
    assert code == 2 and err.count("\n") == 1 and "cuda" in err and "not available" in err, err
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.parametrize("args, word", [(["--accelerator", "gpu"], "gpu"), (["--precision", "fp8"], "fp8")])
def test_unknown_names_are_one_line_and_exit_2(capsys, tmp_path, args, word):
    code, _, err = run(capsys, *COMMANDS["oneshot"], "--run-dir", str(tmp_path), *args)
    assert code == 2 and err.count("\n") == 1 and word in err, err


def test_oneshot_on_the_cpu_records_its_compute(capsys, tmp_path):
    code, out, err = run(capsys, *COMMANDS["oneshot"], "--method", "gdas", "--run-dir", str(tmp_path),
                         "--accelerator", "cpu", "--precision", "bf16", "--json")
    assert code == 0, err
    compute = json.loads(out)["compute"]
    assert compute["accelerator"] == "cpu" and compute["precision"] == "bf16"
    stored = json.loads(next(tmp_path.glob("*/result.json")).read_text())
    assert stored["compute"] == compute and "accelerator" not in stored["config"]["config"]
