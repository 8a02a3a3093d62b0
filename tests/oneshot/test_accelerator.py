"""Compute device and precision of the one-shot searches: ``cpu`` is today's search, an absent
accelerator is a one-line error, everything lives on one device, bf16 runs on the CPU."""

import math

import pytest
import torch

from archscout._accelerator import resolve
from archscout.exceptions import ArchscoutError
from archscout.oneshot import get_method, get_profile, list_methods

from helpers import one_line

from .conftest import TINY

ONE = {**TINY, "epochs": 1}
NASOOD = dict(C=4, N=1, image_size=8, epochs=1, batch_size=16, train_images=48, val_images=48, gen_channels=4,
              gen_blocks=1, aux_width=4, aux_emb=8, aux_epochs=1, ot_iters=10)
CPU_ONLY = pytest.mark.skipif(resolve("auto").type != "cpu", reason="auto is an accelerator on this machine")


def _config(method, **kw):
    return get_profile(method, "cpu", **{**(NASOOD if method == "nasood" else ONE), **kw})


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


@CPU_ONLY
@pytest.mark.parametrize("method", ["darts", "mdenas", "fpnas", "nasood"])
def test_cpu_is_the_default_search(digits, method):
    default = get_method(method).search("nb201", digits, _config(method))
    cpu = get_method(method).search("nb201", digits, _config(method, accelerator="cpu"))
    assert cpu.arch_str == default.arch_str and _strip(cpu.history) == _strip(default.history)
    assert (cpu.distribution == default.distribution).all()
    assert cpu.compute["accelerator"] == "cpu" and cpu.compute["precision"] == "fp32"
    assert "accelerator" not in cpu.config["config"] and "precision" not in cpu.config["config"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_absent_cuda_is_a_one_line_error(digits):
    cfg = _config("darts", accelerator="cuda")  # a valid spelling: refused when the search starts
    one_line(ArchscoutError, lambda: get_method("darts").search("nb201", digits, cfg), "cuda", "not available")


def test_bad_spellings_are_one_line_errors():
    one_line(ArchscoutError, lambda: get_profile("darts", "cpu", accelerator="gpu"), "gpu", "cuda:N")
    one_line(ArchscoutError, lambda: get_profile("gdas", "cpu", precision="fp8"), "fp8", "bf16")


@pytest.mark.parametrize("method", ["darts", "nasood"])
def test_supernet_and_halves_on_one_device(digits, method):
    m = get_method(method)
    seen = {}
    epoch = m._epoch

    def spy(state, e, halves, tick):
        seen.update(state=state, halves=halves)
        return epoch(state, e, halves, tick)

    m._epoch = spy
    r = m.search("nb201", digits, _config(method, accelerator="cpu"))
    state, halves = seen["state"], seen["halves"]
    tensors = [*state.supernet.parameters(), *state.supernet.buffers(), state.alpha,
               halves.x_w, halves.y_w, halves.x_a, halves.y_a]
    if method == "nasood":
        ctx = m._ctx
        tensors += [*ctx.generator.parameters(), *ctx.f_cat.parameters(), *ctx.f_dom.parameters(), ctx.d_w, ctx.d_a]
    assert state.device == torch.device("cpu") and {t.device for t in tensors} == {state.device}
    assert r.compute["accelerator"] == "cpu"


@pytest.mark.parametrize("method", sorted(list_methods()))
def test_bf16_runs_on_the_cpu(digits, method):
    r = get_method(method).search("nb201", digits, _config(method, accelerator="cpu", precision="bf16"))
    losses = [v for k, v in r.history[0].items() if k.endswith("_loss")]
    assert losses and all(math.isfinite(v) for v in losses)
    assert r.compute["precision"] == "bf16" and r.arch_str.startswith("|")


def test_accelerator_and_precision_are_not_part_of_a_run(digits, tmp_path):
    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    with pytest.raises(Stop):  # interrupted after its first epoch (checkpoint written)
        get_method("gdas").search("nb201", digits, _config("gdas", epochs=2, accelerator="cpu"), run_dir=tmp_path,
                                  on_epoch=stop)
    first = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["history"]
    rest = get_method("gdas").search("nb201", digits, _config("gdas", epochs=2, precision="bf16"), run_dir=tmp_path)
    assert len(rest.history) == 2 and _strip(rest.history[:1]) == _strip(first)  # resumed, not refused
