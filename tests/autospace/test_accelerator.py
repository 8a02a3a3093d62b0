"""Compute device and precision of the evolution and of the skeleton-space one-shot search: ``cpu`` is
today's run, an absent accelerator is a one-line error, bf16 runs on the CPU, neither is part of a run."""

import math

import numpy as np
import pytest
import torch

from archscout._accelerator import resolve
from archscout.autospace import (REFERENCE_CELL, EvolveConfig, LearnedSpace, SmallOneShotConfig, evolve, mutate_cell,
                                 oneshot_search)
from archscout.data import load_split
from archscout.exceptions import ArchscoutError

from helpers import one_line, one_torch_thread

TINY = dict(iterations=1, steps_per_iter=3, warmup_steps=1, batch_size=16, train_images=48, val_images=48,
            population=4, k_sample=2, top_k=2, threads=1)
SMALL = dict(epochs=1, batch_size=16, train_images=48, val_images=48)
CPU_ONLY = pytest.mark.skipif(resolve("auto").type != "cpu", reason="auto is an accelerator on this machine")


@pytest.fixture(scope="module")
def space():
    rng = np.random.default_rng(0)
    return LearnedSpace([[REFERENCE_CELL, mutate_cell(REFERENCE_CELL, rng)] for _ in range(4)], name="test-accel")


@pytest.fixture(scope="module")
def data():
    with one_torch_thread():
        yield load_split("digits-shift", "correlation", per_domain=40)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


@CPU_ONLY
def test_cpu_is_the_default_evolution(data):
    default, cpu = evolve(data, EvolveConfig(**TINY)), evolve(data, EvolveConfig(**TINY, accelerator="cpu"))
    assert _strip(cpu.history) == _strip(default.history) and cpu.populations == default.populations
    assert cpu.compute["accelerator"] == "cpu" and cpu.to_dict()["compute"]["precision"] == "fp32"


@CPU_ONLY
@pytest.mark.parametrize("method", ["darts", "gdas"])
def test_cpu_is_the_default_skeleton_search(space, data, method):
    default = oneshot_search(space, data, SmallOneShotConfig(method=method, **SMALL))
    cpu = oneshot_search(space, data, SmallOneShotConfig(method=method, accelerator="cpu", **SMALL))
    for key in ("arch_str", "probs", "history"):
        assert cpu[key] == default[key]
    assert cpu["compute"]["accelerator"] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_absent_cuda_is_a_one_line_error(space, data):
    one_line(ArchscoutError, lambda: evolve(data, EvolveConfig(**TINY, accelerator="cuda")), "cuda", "not available")
    one_line(ArchscoutError, lambda: oneshot_search(space, data, SmallOneShotConfig(accelerator="cuda:1")),
             "cuda:1")
    one_line(ArchscoutError, lambda: EvolveConfig(accelerator="tpu"), "tpu")
    one_line(ArchscoutError, lambda: SmallOneShotConfig(precision="fp64"), "fp64")


def test_bf16_runs_on_the_cpu(space, data):
    res = evolve(data, EvolveConfig(**TINY, accelerator="cpu", precision="bf16"))
    assert math.isfinite(res.history[0]["weights_loss"]) and res.compute["precision"] == "bf16"
    small = oneshot_search(space, data, SmallOneShotConfig(method="gdas", accelerator="cpu",
                                                                       precision="bf16", **SMALL))
    assert math.isfinite(small["history"][0]["loss"]) and len(small["probs"]) == 4


def test_accelerator_and_precision_are_not_part_of_a_run(data, tmp_path):
    cfg = {**TINY, "iterations": 2}
    part = evolve(data, EvolveConfig(**cfg, accelerator="cpu"), run_dir=tmp_path, stop_after=1)
    rest = evolve(data, EvolveConfig(**cfg, precision="bf16"), run_dir=tmp_path)  # resumed, not refused
    assert len(part.history) == 1 and len(rest.history) == 2
    assert _strip(rest.history[:1]) == _strip(part.history)
