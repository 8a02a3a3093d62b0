import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from archscout.exceptions import ArchscoutError
from archscout.oneshot._base import get_method, get_profile
from archscout.oneshot._fpnas import (FPNAS, FPNASConfig, entropy_nats, joint_from_factorized, marginals,
                                      sample_count)
from archscout.spaces import get_space

from .conftest import TINY

OPS = torch.from_numpy(np.array(get_space("nb201").ops_table, dtype=np.int64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_joint_init_equals_the_factorized_product(dtype):
    phi = (2.0 * torch.randn(6, 5, generator=torch.Generator().manual_seed(0))).to(dtype)
    theta = joint_from_factorized(phi, OPS)
    assert theta.shape == (15625,)
    p = phi.double().softmax(-1)
    product = p[torch.arange(6), OPS].prod(1)
    assert torch.allclose(theta.double().softmax(-1), product, rtol=0, atol=1e-6)
    assert float(theta.double().exp().sum()) == pytest.approx(1.0, abs=1e-6)  # already normalized
    assert torch.allclose(marginals(theta.double(), OPS, 5), p, rtol=0, atol=1e-6)
    assert entropy_nats(theta) == pytest.approx(entropy_nats(phi), abs=1e-4)  # H(product) = sum of H


def test_sample_count_follows_entropy():
    scale = 8 / (6 * math.log(5))
    assert sample_count(6 * math.log(5), scale, 1, 8) == 8  # uniform -> k_max
    hs = np.linspace(6 * math.log(5), 0, 30)
    ks = [sample_count(h, scale, 2, 8) for h in hs]
    assert ks[0] == 8 and ks[-1] == 2 and all(a >= b for a, b in zip(ks, ks[1:]))
    assert sample_count(4.0, scale, 1, 8) == math.ceil(scale * 4.0)


def _state(joint):
    cfg = FPNASConfig(dist_lr=0.5)
    phi = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    extra = {"theta": joint_from_factorized(phi, OPS) if joint else None, "sample_counts": []}
    return SimpleNamespace(config=cfg, alpha=phi, extra=extra, cost=None)


@pytest.mark.parametrize("joint", [False, True])
def test_closed_form_update_is_the_likelihood_gradient(joint):
    m, state = FPNAS(), _state(joint)
    idx = torch.tensor([3, 3, 700, 15000])
    archs = OPS[idx]
    omega = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    params = (state.extra["theta"] if joint else state.alpha).clone().requires_grad_()
    if joint:
        logp = params.log_softmax(-1)[idx]
    else:
        logp = params.log_softmax(-1)[torch.arange(6), archs].sum(1)
    (grad,) = torch.autograd.grad((omega * logp).sum(), params)
    m.update(state, archs, idx if joint else None, omega)
    after = state.extra["theta"] if joint else state.alpha
    assert torch.allclose(after - params.detach(), 0.5 * grad, atol=1e-12)
    probs = m.probs(SimpleNamespace(**vars(state), supernet=SimpleNamespace(alpha_shape=(6, 5))))
    assert torch.allclose(probs.sum(-1), torch.ones(6, dtype=probs.dtype)) and bool((probs >= 0).all())
    best = int(joint_from_factorized(after, OPS).argmax()) if not joint else int(after.argmax())
    assert m.mode(state) == get_space("nb201").from_index(best)  # the mode of P


@pytest.mark.parametrize("joint", [False, True])
def test_cost_penalty_gradient_lowers_the_expected_cost(raspi4, joint):
    m, state = FPNAS(), _state(joint)
    state.cost = raspi4.with_target(5.0, weight=1.0)
    params = state.extra["theta"] if joint else state.alpha
    before = float(m.expected_cost(state, params))
    after = float(m.expected_cost(state, params - 0.5 * m._penalty_grad(state, params)))
    assert after < before
    if joint:  # the exact expectation over all cells with the true table
        p = params.softmax(-1).numpy()
        assert before == pytest.approx(float((p * raspi4.true_costs()).sum()))


def test_config_validation_and_profiles():
    cfg = get_profile("fpnas", "cpu")
    assert isinstance(cfg, FPNASConfig) and (cfg.epochs, cfg.switch_epoch, cfg.k_max, cfg.k_min) == (6, 3, 8, 1)
    assert cfg.dist_lr == 2.0 and FPNASConfig().dist_lr == 0.1
    assert get_profile("fpnas", "paper").switch_epoch == 25 and get_profile("fpnas", "paper").dist_lr == 0.1
    for bad in ({"k_min": 9}, {"coarse_epochs": 7}, {"temperature": 0.0}, {"joint_cost": "exact"}):
        with pytest.raises(ArchscoutError):
            get_profile("fpnas", "cpu", **bad)


def test_end_to_end_switch_sample_counts_and_simplex(digits):
    cfg = get_profile("fpnas", "cpu", **{**TINY, "epochs": 4, "coarse_epochs": 2, "dist_lr": 3.0})
    m = FPNAS()
    r = m.search("nb201", digits, cfg)
    assert [h["phase"] for h in r.history] == ["factorized", "factorized", "joint", "joint"]
    assert r.details["phase"] == "joint" and r.distribution.shape == (6, 5)
    assert np.all(r.distribution >= 0) and np.allclose(r.distribution.sum(-1), 1.0)
    # K_t = clip(ceil(lambda_s H), 1, 8) at every step, K = 8 at the start, then falling with H
    scale = 8 / (6 * math.log(5))
    assert all(k == sample_count(h, scale, 1, 8) for _, h, k in m.trace)
    assert m.trace[0][2] == 8 and r.details["sample_counts"] == [k for _, _, k in m.trace]
    assert r.history[-1]["entropy_total"] < r.history[0]["entropy_total"]
    assert r.history[-1]["k_mean"] < r.history[0]["k_mean"]
    assert r.arch_str == r.history[-1]["argmax"]  # the derived arch is the mode of the joint
    assert {"weights_loss", "arch_loss", "entropy", "k_last"} <= set(r.history[0])


class Killed(Exception):
    pass


def test_resume_with_the_joint_in_state(digits, raspi4, tmp_path):
    cfg = get_profile("fpnas", "cpu", **{**TINY, "epochs": 3, "coarse_epochs": 1, "dist_lr": 1.0})
    cost = raspi4.with_target(6.0, weight=2.0)
    full = get_method("fpnas").search("nb201", digits, cfg, cost=cost)

    def kill(rec):
        if rec["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        get_method("fpnas").search("nb201", digits, cfg, cost=cost, run_dir=tmp_path, on_epoch=kill)
    resumed = get_method("fpnas").search("nb201", digits, cfg, cost=cost, run_dir=tmp_path)
    assert np.array_equal(resumed.distribution, full.distribution) and resumed.arch == full.arch
    assert resumed.details == full.details
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history] == strip
    assert full.cost["meets_target"] and full.history[-1]["expected_cost"] > 0
