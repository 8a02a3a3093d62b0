"""benchmarks/gpu_check.py: one line and exit 0 without a GPU; every part at toy sizes on the CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_a_gpu_one_line_and_exit_0():
    r = run()
    assert r.returncode == 0 and r.stdout.count("\n") == 1 and "no CUDA GPU" in r.stdout


def test_every_part_runs_at_toy_sizes_on_the_cpu(tmp_path):
    r = run("--accelerator", "cpu", "--tiny", "--out", str(tmp_path / "out.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert set(out["darts_step"]) == {"cpu (2 threads), fp32", "cpu, fp32", "cpu, bf16"}
    assert [s["method"] for s in out["searches"]] == ["darts", "gdas"]
    for s in out["searches"]:
        assert 1 <= s["epochs"] <= 2 and isinstance(s["collapsed"], bool) and s["arch_index"] is not None
    assert set(out["main_job"]["stage_seconds"]) >= {"search", "train", "export"}
    assert "published architecture steps" in r.stdout and "main job" in r.stdout
