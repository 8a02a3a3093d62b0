import json

import numpy as np
import pytest
import torch

from archscout.data import Domain, DomainData
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot import (DartsConfig, GDASConfig, OneShotConfig, OneShotMethod, OneShotResult, get_method,
                               get_profile, list_methods)
from archscout.oneshot._base import prepare
from archscout.spaces import get_space

from helpers import one_line

from .conftest import TINY


def test_registry_and_profiles():
    assert {"darts", "gdas", "spos"} <= set(list_methods())
    cpu, paper = get_profile("darts", "cpu"), get_profile("darts", "paper")
    assert isinstance(cpu, DartsConfig) and (cpu.C, cpu.N, cpu.epochs, cpu.image_size) == (8, 1, 10, 16)
    assert (cpu.train_images, cpu.val_images, cpu.batch_size) == (1024, 1024, 64)
    assert (paper.C, paper.N, paper.epochs, paper.train_images) == (16, 5, 50, None)
    gdas = get_profile("gdas", "cpu")
    assert isinstance(gdas, GDASConfig) and gdas.epochs == 20 and (gdas.tau_max, gdas.tau_min) == (10.0, 0.1)
    assert get_profile("gdas", "paper").epochs == 240
    assert get_profile("gdas", "cpu", epochs=3).epochs == 3
    # the update rules are the same in both profiles
    for f in ("lr", "lr_min", "momentum", "weight_decay", "arch_lr", "arch_betas", "arch_weight_decay", "order"):
        assert getattr(cpu, f) == getattr(paper, f)


@pytest.mark.parametrize("call, text", [
    (lambda: get_profile("darts", "gpu"), "unknown profile 'gpu'; choose from:"),
    (lambda: get_method("enas"), "unknown one-shot method 'enas'; choose from:"),
    (lambda: get_profile("darts", "cpu", order="sideways"), "unknown step order"),
    (lambda: get_profile("gdas", "cpu", tau=1.0), "unknown gdas config field 'tau'; choose from: tau_"),
])
def test_unknown_names_give_one_line(call, text):
    assert one_line(UnknownNameError, call).startswith(text)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"C": 1.5}, {"lr_min": 1.0}, {"seed": -1}, {"grad_clip": 0}])
def test_config_validation(bad):
    with pytest.raises(ArchscoutError):
        get_profile("darts", "cpu", **bad)


def test_unsupported_space_and_wrong_config(digits):
    with pytest.raises(UnknownNameError, match="space for spos"):
        get_method("spos").search("fbnet", digits, get_profile("spos", "cpu", **TINY))
    with pytest.raises(ArchscoutError, match="needs a GDASConfig"):
        get_method("gdas").search("nb201", digits, get_profile("darts", "cpu", **TINY))


def test_halves_use_training_domains_only(digits):
    cfg = get_profile("darts", "cpu", **{**TINY, "train_images": None, "val_images": None})
    h = prepare(digits, cfg)
    n_train = sum(len(d) for d in digits.train)
    assert len(h.y_w) + len(h.y_a) == n_train and abs(len(h.y_w) - len(h.y_a)) <= 10
    assert h.x_w.shape[1:] == (3, 8, 8) and abs(float(h.x_w.mean())) < 1e-4
    h2 = prepare(digits, cfg)
    assert torch.equal(h.y_a, h2.y_a) and torch.equal(h.x_w, h2.x_w)


def test_search_ignores_test_domains(digits):
    """A test domain full of NaN changes nothing: the search never reads it."""
    poisoned = {**digits.domains, **{d: Domain(d, torch.full_like(digits.domains[d].x, float("nan")),
                                               digits.domains[d].y) for d in digits.split.test}}
    bad = DomainData(digits.name, digits.classes, poisoned, digits.split, digits.meta)
    cfg = get_profile("darts", "cpu", **{**TINY, "epochs": 1})
    a = get_method("darts").search("nb201", digits, cfg)
    b = get_method("darts").search("nb201", bad, cfg)
    assert np.array_equal(a.distribution, b.distribution) and np.isfinite(a.history[0]["weights_loss"])


def test_result_is_json_ready_and_round_trips(digits):
    r = get_method("darts").search("nb201", digits, get_profile("darts", "cpu", **{**TINY, "order": "arch-first"}))
    assert isinstance(r, OneShotResult)
    d = json.loads(json.dumps(r.to_dict()))
    space = get_space("nb201")
    assert space.from_str(d["arch"]) == r.arch and space.to_str(space.from_str(r.arch_str)) == r.arch_str
    assert d["arch_index"] == space.index(r.arch) and np.asarray(d["distribution"]).shape == (6, 5)
    assert [h["epoch"] for h in d["history"]] == [1, 2] and d["config"]["method"] == "darts"
    assert {"weights_loss", "weights_acc", "arch_loss", "arch_acc", "entropy", "lr", "seconds"} <= set(d["history"][0])


class Killed(Exception):
    pass


def _kill_after(epoch):
    def on_epoch(rec):
        if rec["epoch"] == epoch:
            raise Killed

    return on_epoch


@pytest.mark.parametrize("method", ["darts", "gdas", "spos"])
def test_resume_after_kill_equals_uninterrupted(digits, tmp_path, method):
    extra = {"candidates": 5} if method == "spos" else {}
    cfg = get_profile(method, "cpu", **{**TINY, "epochs": 3, **extra})
    full = get_method(method).search("nb201", digits, cfg)
    with pytest.raises(Killed):
        get_method(method).search("nb201", digits, cfg, run_dir=tmp_path, on_epoch=_kill_after(2))
    seen = []
    resumed = get_method(method).search("nb201", digits, cfg, run_dir=tmp_path, on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [3]
    assert resumed.arch == full.arch and np.allclose(resumed.distribution, full.distribution, atol=0)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history] == strip
    assert json.loads((tmp_path / "result.json").read_text())["arch"] == full.arch_str


def test_other_config_in_run_dir_refuses(digits, tmp_path):
    cfg = get_profile("darts", "cpu", **{**TINY, "epochs": 1})
    get_method("darts").search("nb201", digits, cfg, run_dir=tmp_path)
    one_line(ArchscoutError, lambda: get_method("darts").search(
        "nb201", digits, get_profile("darts", "cpu", **{**TINY, "epochs": 2}), run_dir=tmp_path),
        "another config", "config.epochs")


def test_to_dict_turns_nan_into_null_and_progress_bar_runs(digits):
    r = get_method("gdas").search("nb201", digits, get_profile("gdas", "cpu", **{**TINY, "epochs": 1}), progress=True)
    r.history[0]["weights_loss"] = float("nan")
    d = r.to_dict()
    assert d["history"][0]["weights_loss"] is None and d["history"][0]["tau"] == 10.0
    assert isinstance(d["distribution"][0][0], float) and json.dumps(d, allow_nan=False)


class _Sharpen(OneShotMethod):
    """A toy method written against the hooks: a distribution in ``alpha``, sharpened once per epoch."""

    name = "sharpen"

    def init_arch(self, state):
        state.alpha = torch.full(state.supernet.alpha_shape, 0.2)

    def sample(self, state):
        return {"index": torch.multinomial(state.alpha, 1, generator=state.generator).squeeze(1)}

    def arch_step(self, state, x, y):
        return None

    def probs(self, state):
        return state.alpha

    def end_epoch(self, state):
        state.alpha[:, 3] += 0.5
        state.alpha /= state.alpha.sum(-1, keepdim=True)


def test_a_method_built_from_the_hooks(digits, tmp_path):
    cfg = OneShotConfig(**TINY)
    r = _Sharpen().search("nb201", digits, cfg, run_dir=tmp_path)
    assert r.method == "sharpen" and np.allclose(r.distribution.sum(-1), 1.0)
    assert r.arch_index == 1462  # all conv3x3
    assert r.history[0]["entropy"] > r.history[1]["entropy"]
    again = _Sharpen().search("nb201", digits, cfg, run_dir=tmp_path)  # finished run: re-read from the checkpoint
    assert np.array_equal(again.distribution, r.distribution)
