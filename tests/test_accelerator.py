"""The compute device (``--accelerator``) and precision: spellings, absent devices as one line, what a
result records, checkpoints on the CPU."""

import pytest
import torch

from archscout._accelerator import autocast, check_accelerator, check_precision, describe, grad_scaler, resolve
from archscout._rundir import atomic_save, to_cpu
from archscout.exceptions import ArchscoutError
from helpers import one_line

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_valid_spellings(name):
    assert check_accelerator(name) == name


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "", None, 0])
def test_unknown_spelling_names_the_accepted_ones(name):
    one_line(ArchscoutError, lambda: check_accelerator(name), "auto, cpu, cuda, cuda:N, mps")


def test_precision_spellings():
    assert [check_precision(p) for p in ("fp32", "bf16", "fp16")] == ["fp32", "bf16", "fp16"]
    with pytest.raises(ArchscoutError, match="fp32, bf16, fp16"):
        check_precision("fp8")


def test_cpu_and_auto_resolve_here():
    assert resolve("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve("auto").type in ("cpu", "mps")


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_absent_cuda_is_one_line(name):
    one_line(ArchscoutError, lambda: resolve(name), repr(name), "--accelerator cpu")


def test_fp32_is_the_plain_code_path():
    dev = torch.device("cpu")
    with autocast(dev, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(dev, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not grad_scaler(dev, "fp32").is_enabled() and not grad_scaler(dev, "bf16").is_enabled()


def test_describe_records_what_ran():
    d = describe(torch.device("cpu"), "bf16")
    assert d["accelerator"] == "cpu" and d["precision"] == "bf16" and d["torch"] == torch.__version__
    assert "cuda" in d and "name" in d


def test_checkpoints_hold_cpu_tensors(tmp_path):
    obj = {"a": torch.ones(2), "b": [torch.zeros(1), (torch.ones(1), 3)], "c": "x"}
    assert to_cpu(obj)["b"][1][1] == 3 and isinstance(to_cpu(obj)["b"][1], tuple)
    atomic_save(obj, tmp_path / "x.pt")
    back = torch.load(tmp_path / "x.pt", weights_only=True)
    assert back["a"].device.type == "cpu" and torch.equal(back["b"][0], torch.zeros(1))
