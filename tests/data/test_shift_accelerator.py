"""Compute device and precision of the environment classifier: ``cpu`` is today's estimate, an absent
accelerator is a one-line error, bf16 runs on the CPU, the result records its compute."""

import math
import warnings

import pytest
import torch

from archscout._accelerator import resolve
from archscout.data import load_split
from archscout.data._shift_metrics import ShiftMetricsConfig, ShiftMetricWarning, measure_shift
from archscout.exceptions import ArchscoutError

from helpers import one_line

TINY = dict(trials=1, epochs=2, swa_start=1, samples=500, dim_z=2, width=4, calibrate=False)


@pytest.fixture(scope="module")
def digits():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield load_split("digits-shift", "correlation", per_domain=100)
    torch.set_num_threads(threads)


def _measure(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShiftMetricWarning)
        out = measure_shift(data, config=ShiftMetricsConfig(**TINY, **kw)).to_dict()
    out.pop("seconds")
    return out


@pytest.mark.skipif(resolve("auto").type != "cpu", reason="auto is an accelerator on this machine")
def test_cpu_is_the_default_estimate(digits):
    default, cpu = _measure(digits), _measure(digits, accelerator="cpu")
    assert cpu["compute"]["accelerator"] == "cpu" and cpu["compute"] == default["compute"]
    cpu.pop("config"), default.pop("config")
    assert cpu == default


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_absent_cuda_is_a_one_line_error(digits):
    one_line(ArchscoutError, lambda: _measure(digits, accelerator="cuda"), "cuda", "not available")
    one_line(ArchscoutError, lambda: ShiftMetricsConfig(accelerator="npu"), "npu")
    one_line(ArchscoutError, lambda: ShiftMetricsConfig(precision="int8"), "int8")


def test_bf16_runs_on_the_cpu(digits):
    out = _measure(digits, accelerator="cpu", precision="bf16")
    assert out["compute"]["precision"] == "bf16" and math.isfinite(out["diversity"]["mean"])
    assert out["config"]["precision"] == "bf16"
