import json

import numpy as np
import pytest
import torch

from archscout.exceptions import UnknownNameError
from archscout.oneshot._base import get_method, get_profile
from archscout.oneshot._mdenas import MdeNAS, MdeNASConfig, delta, update_probs

from .conftest import TINY


def test_delta_hand_cases():
    # less trained and more accurate ranks up: a strict total order on both statistics
    d = delta(torch.tensor([1.0, 2, 3, 4, 5]), torch.tensor([0.5, 0.4, 0.3, 0.2, 0.1]))
    assert d.tolist() == [4, 2, 0, -2, -4]
    # the opposite order (more trained is better) gives no comparable pair
    assert delta(torch.tensor([1.0, 2, 3]), torch.tensor([0.1, 0.2, 0.3])).tolist() == [0, 0, 0]
    # ties in H^e (ops 0/1, 2/3) and in H^a (ops 1/2, 3/4) are not comparable
    d = delta(torch.tensor([2.0, 2, 1, 1, 0]), torch.tensor([0.5, 0.9, 0.9, 0.1, 0.1]))
    assert d.tolist() == [-1, 0, 1, 0, 0]
    # rows are independent
    d = delta(torch.tensor([[1.0, 2], [1, 2]]), torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    assert d.tolist() == [[1, -1], [0, 0]]


def test_update_shift_and_renormalize():
    p = torch.full((1, 5), 0.2)
    d = torch.tensor([[4.0, 2, 0, -2, -4]])
    assert torch.allclose(update_probs(p, d, 0.01), torch.tensor([[0.24, 0.22, 0.2, 0.18, 0.16]]))
    # a negative entry: shift by the minimum (-0.2), then renormalize (sum 2.0)
    assert torch.allclose(update_probs(p, d, 0.1), torch.tensor([[0.4, 0.3, 0.2, 0.1, 0.0]]))


def test_probabilities_stay_on_the_simplex_under_random_updates():
    g = torch.Generator().manual_seed(0)
    p = torch.full((6, 5), 0.2)
    for _ in range(200):
        he = torch.randint(0, 4, (6, 5), generator=g).float()
        ha = torch.rand(6, 5, generator=g).round(decimals=1)
        d = delta(he, ha)
        assert torch.equal(d.sum(-1), torch.zeros(6, dtype=d.dtype))  # antisymmetric
        p = update_probs(p, d, 0.05)
        assert bool((p >= 0).all()) and torch.allclose(p.sum(-1), torch.ones(6))


def test_config_and_profiles():
    cfg = get_profile("mdenas", "cpu")
    assert isinstance(cfg, MdeNASConfig) and (cfg.epochs, cfg.prob_lr, cfg.accuracy, cfg.C) == (10, 0.01, "average", 8)
    assert get_profile("mdenas", "paper").C == 16
    with pytest.raises(UnknownNameError, match="accuracy mode"):
        get_profile("mdenas", "cpu", accuracy="best")


def test_one_path_per_step_shared_by_both_halves():
    from types import SimpleNamespace

    m = MdeNAS()
    state = SimpleNamespace(alpha=torch.full((6, 5), 0.2), generator=torch.Generator().manual_seed(0))
    paths = [m._path(state) for _ in range(6)]
    assert all(torch.equal(paths[i], paths[i + 1]) for i in (0, 2, 4))
    assert not (torch.equal(paths[0], paths[2]) and torch.equal(paths[2], paths[4]))


@pytest.mark.parametrize("mode, order", [("average", "weights-first"), ("latest", "arch-first")])
def test_end_to_end_counts_and_simplex(digits, mode, order):
    cfg = get_profile("mdenas", "cpu", **{**TINY, "accuracy": mode, "prob_lr": 0.05, "order": order})
    m = MdeNAS()
    r = m.search("nb201", digits, cfg)
    p = r.distribution
    assert p.shape == (6, 5) and np.all(p >= 0) and np.allclose(p.sum(-1), 1.0)
    h_e = np.asarray(r.details["h_e"])
    steps = 96 // 32
    assert np.all(h_e.sum(-1) == cfg.epochs * steps)  # one trained op per edge per step
    assert r.arch == r.arch.__class__("nb201", tuple(p.argmax(-1).tolist()))
    assert {"weights_loss", "arch_acc", "entropy", "delta_abs", "argmax"} <= set(r.history[0])
    assert not np.allclose(p, 0.2)  # the distribution moved
    out = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert out["arch"] == r.arch_str and np.allclose(out["distribution"], p)


class Killed(Exception):
    pass


def test_resume_after_kill_equals_uninterrupted(digits, tmp_path):
    cfg = get_profile("mdenas", "cpu", **{**TINY, "epochs": 3, "prob_lr": 0.05})
    full = get_method("mdenas").search("nb201", digits, cfg)

    def kill(rec):
        if rec["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        get_method("mdenas").search("nb201", digits, cfg, run_dir=tmp_path, on_epoch=kill)
    seen = []
    resumed = get_method("mdenas").search("nb201", digits, cfg, run_dir=tmp_path, on_epoch=seen.append)
    assert [r["epoch"] for r in seen] == [3]
    assert np.array_equal(resumed.distribution, full.distribution) and resumed.arch == full.arch
    assert resumed.details == full.details
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history] == strip


def test_cost_target_penalizes_scores_and_constrains_derivation(digits, raspi4):
    cost = raspi4.with_target(5.0, weight=2.0)
    state = type("S", (), {"cost": cost, "alpha": torch.zeros(6, 5)})()
    m = MdeNAS()
    cheap, slow = torch.zeros(6, dtype=torch.long), torch.full((6,), 3)  # all none, all conv3x3
    assert m.score(state, cheap, 0.5) == 0.5 and m.score(state, slow, 0.5) < 0.5
    r = m.search("nb201", digits, get_profile("mdenas", "cpu", **{**TINY, "epochs": 1}), cost=cost)
    assert r.cost["meets_target"] and r.history[0]["expected_cost"] > 0


def test_darts_cell_space(digits):
    cfg = get_profile("mdenas", "cpu", C=4, N=1, image_size=8, epochs=1, batch_size=16, train_images=32,
                      val_images=32, prob_lr=0.05)
    r = MdeNAS().search("darts", digits, cfg)
    assert r.distribution.shape == (2, 14, 8) and np.allclose(r.distribution.sum(-1), 1.0)
    assert np.asarray(r.details["h_e"]).sum() == 2 * 14 * 2  # 2 steps, one op per (cell type, edge)
    assert r.arch_str.startswith("normal=")
