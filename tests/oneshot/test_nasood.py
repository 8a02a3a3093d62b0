import dataclasses

import numpy as np
import pytest
import torch

import archscout.oneshot._nasood as nasood_mod
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot import get_method
from archscout.oneshot._nasood import NASOOD, NASOODConfig
from archscout.spaces import get_space

SMALL = dict(C=4, N=1, image_size=8, epochs=2, batch_size=16, train_images=48, val_images=48, gen_channels=4,
             gen_blocks=1, aux_width=4, aux_emb=8, aux_epochs=1, ot_iters=10)


def cfg(**kw):
    return NASOODConfig(**{**SMALL, **kw})


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_registered_and_profiles():
    assert isinstance(get_method("nasood"), NASOOD)
    assert NASOOD.profiles["paper"]["gen_channels"] == 64 and NASOOD.profiles["paper"]["gen_blocks"] == 3
    c = NASOODConfig()
    assert (c.C, c.N, c.image_size, c.batch_size, c.epochs) == (8, 1, 16, 32, 8)
    assert (c.lambda_cyc, c.lambda_ce, c.lambda_ot, c.gen_lr, c.gen_betas) == (10.0, 0.01, 0.01, 1e-4, (0.5, 0.999))
    assert NASOOD.relaxation_of(c, "nb201") == "softmax" and NASOOD.relaxation_of(c, "darts") == "sparse"


def test_config_errors():
    with pytest.raises(UnknownNameError):
        NASOODConfig(mode="fast")
    with pytest.raises(UnknownNameError):
        NASOODConfig(level="tri")
    with pytest.raises(ArchscoutError, match="stage1_ratio"):
        NASOODConfig(stage1_ratio=1.5)


def test_odd_image_size_runs(digits):
    r = get_method("nasood").search("nb201", digits, cfg(image_size=9, epochs=1))
    assert r.arch_index is not None


def test_nb201_softmax_single_clean(digits):
    r = get_method("nasood").search("nb201", digits, cfg())
    assert r.method == "nasood" and r.arch_index is not None
    np.testing.assert_allclose(r.distribution.sum(-1), 1.0, rtol=1e-5)
    h = r.history[-1]
    for key in ("arch_loss", "gen_cyc", "gen_sem", "gen_ot", "gen_sem_acc", "entropy", "argmax"):
        assert key in h
    assert r.details["relaxation"] == "softmax" and "category" in r.details["aux_pretraining"]
    assert "not run" in r.details["stage2"]


def test_darts_sparse_code_bi(digits):
    method = get_method("nasood")
    seen = []
    orig = method._weights

    def spy(state):
        w = orig(state)
        seen.append(w.detach().clone())
        return w

    method._weights = spy
    r = method.search("darts", digits, cfg(N=3, epochs=1, mode="code", level="bi", train_images=32, val_images=32))
    assert r.details["relaxation"] == "sparse" and r.space == "darts"
    get_space("darts").make(r.arch.ops)  # a valid DARTS arch (distinct inputs per node)
    w = seen[-1]
    assert w.shape == (2, 14, 8) and not w[..., 0].any()
    from archscout.oneshot._sparse import darts_groups

    flat = w.reshape(-1)
    for g in darts_groups():
        assert int((flat[g] != 0).sum()) == 2  # exactly `sparseness` non-zero weights per node
    assert "weights_loss" in r.history[-1] and r.history[-1]["nodes"] == 8
    assert len(r.details["nasood_genotype"]["normal"]) == 8


def test_code_mode_takes_two_generator_steps(digits, monkeypatch):
    counts = {}
    for mode in ("clean", "code"):
        method = get_method("nasood")
        calls = []
        orig_setup = method._setup

        def setup(*a, **k):
            state, history = orig_setup(*a, **k)
            opt = method._ctx.gen_opt
            step = opt.step

            def counted(*sa, **sk):
                calls.append(1)
                return step(*sa, **sk)

            opt.step = counted
            return state, history

        method._setup = setup
        method.search("nb201", digits, cfg(epochs=1, mode=mode, train_images=32, val_images=32))
        counts[mode] = len(calls)
    assert counts["code"] == 2 * counts["clean"] > 0


def test_sparse_frozen_codes_do_not_move(digits):
    method = get_method("nasood")
    z_after = []
    orig = method._epoch

    def capture(state, *a):
        rec = orig(state, *a)
        z_after.append(state.alpha.detach().clone())
        return rec

    method._epoch = capture
    r = method.search("nb201", digits, cfg(relaxation="sparse", epochs=4, freeze_tol=1.0, train_images=32,
                                           val_images=32))
    # freeze_tol 1: every edge freezes at the first allowed recovery (after epoch 2); epoch 3 still
    # trains (w, G) with frozen codes, then the search stage is over (epoch 4 is a no-op)
    assert [h["frozen"] for h in r.history] == [0, 6, 6, 6]
    assert not torch.equal(z_after[0], z_after[1])
    assert torch.equal(z_after[1], z_after[2]) and torch.equal(z_after[2], z_after[3])
    assert r.history[3].get("stopped") is True and "arch_loss" in r.history[2] and r.details["stopped_early"]
    assert r.details["frozen"] == [True] * 6
    assert sum(1 for p in r.distribution.reshape(6, 5) if (p > 1e-6).sum() >= 1) == 6


@pytest.mark.parametrize("relaxation", ["softmax", "sparse"])
def test_cost_constraint_on_nb201(digits, raspi4, relaxation):
    target = float(np.nanpercentile(raspi4.true_costs(), 20))
    r = get_method("nasood").search("nb201", digits, cfg(epochs=1, train_images=32, val_images=32,
                                                         relaxation=relaxation), cost=raspi4.with_target(target))
    assert r.cost["meets_target"] is True and "expected_cost" in r.history[-1]


def test_cost_on_darts_is_an_error(digits, raspi4):
    with pytest.raises(ArchscoutError, match="cost term is for space 'nb201'"):
        get_method("nasood").search("darts", digits, cfg(epochs=1), cost=raspi4)


@pytest.mark.parametrize("extra", [{}, {"relaxation": "sparse", "mode": "code", "level": "bi"}])
def test_resume_after_kill_equals_uninterrupted(digits, tmp_path, monkeypatch, extra):
    c = cfg(epochs=2, train_images=32, val_images=32, **extra)
    full = get_method("nasood").search("nb201", digits, c, run_dir=tmp_path / "a")

    class Kill(Exception):
        pass

    def kill(rec):
        raise Kill

    with pytest.raises(Kill):
        get_method("nasood").search("nb201", digits, c, run_dir=tmp_path / "b", on_epoch=kill)

    def no_pretraining(*a, **k):
        raise AssertionError("the auxiliary classifiers were pre-trained again on resume")

    monkeypatch.setattr(nasood_mod, "pretrain_classifier", no_pretraining)
    resumed = get_method("nasood").search("nb201", digits, c, run_dir=tmp_path / "b")
    assert _strip(resumed.history) == _strip(full.history)
    np.testing.assert_array_equal(resumed.distribution, full.distribution)
    assert resumed.arch_str == full.arch_str and resumed.details == full.details
    a, b = (torch.load(p / "checkpoint.pt", weights_only=True)["extra"]["generator"]
            for p in (tmp_path / "a", tmp_path / "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_kill_after_pretraining_keeps_the_classifiers(digits, tmp_path, monkeypatch):
    c = cfg(epochs=1, train_images=32, val_images=32)

    class Kill(Exception):
        pass

    def boom(self, *a, **k):
        raise Kill

    with monkeypatch.context() as m:
        m.setattr(NASOOD, "_epoch", boom)
        with pytest.raises(Kill):
            get_method("nasood").search("nb201", digits, c, run_dir=tmp_path)
    assert (tmp_path / "checkpoint.pt").exists()
    monkeypatch.setattr(nasood_mod, "pretrain_classifier",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("pre-trained again")))
    r = get_method("nasood").search("nb201", digits, c, run_dir=tmp_path)
    assert len(r.history) == 1


class _Forbidden:
    """A test domain that must not be touched before the final evaluation."""

    def __getattr__(self, name):
        raise AssertionError(f"the search read the test domain ({name})")

    def __len__(self):
        raise AssertionError("the search read the test domain (len)")


def test_search_never_reads_the_test_domain(digits):
    domains = {k: (v if k in digits.split.train else _Forbidden()) for k, v in digits.domains.items()}
    guarded = dataclasses.replace(digits, domains=domains)
    with pytest.raises(AssertionError, match="test domain"):
        guarded.test[0].x  # the guard works
    for level in ("single", "bi"):
        r = get_method("nasood").search("nb201", guarded, cfg(epochs=1, level=level, train_images=32, val_images=32))
        assert r.arch_str


def test_clean_step_gives_generator_ascent_through_the_grl(digits, monkeypatch):
    """One clean step: G's gradient is grad L_G - grad_G L_nas; alpha and w get the plain grad L_nas."""
    method = get_method("nasood")
    captured = {}
    orig = method._epoch

    def capture(state, *a):
        captured["state"] = state
        return orig(state, *a)

    method._epoch = capture
    method.search("nb201", digits, cfg(epochs=1, train_images=32, val_images=32))
    state, ctx = captured["state"], method._ctx
    g, net = ctx.generator, state.supernet
    torch.manual_seed(1)
    x, y, d = torch.randn(8, 3, 8, 8), torch.arange(8) % 10, torch.arange(8) % ctx.num_domains
    gp, wp = list(g.parameters()), list(net.parameters())
    _, l_g, _ = method._generator_losses(state, x, y, d)
    grad_lg = torch.autograd.grad(l_g, gp)
    l_nas = torch.nn.functional.cross_entropy(net(g(x, d, g.novel), weights=method._weights(state)), y)
    grad_nas = torch.autograd.grad(l_nas, gp + wp + [state.alpha])
    for opt in (ctx.gen_opt, state.arch_optimizer, state.weight_optimizer):
        monkeypatch.setattr(opt, "step", lambda *a, **k: None)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *a, **k: None)
    method._nas_step(state, x, y, d, update_weights=True)
    got = torch.cat([p.grad.flatten() for p in gp])
    lg, nas = (torch.cat([t.flatten() for t in ts]) for ts in (grad_lg, grad_nas[:len(gp)]))
    torch.testing.assert_close(got, lg - nas, rtol=1e-4, atol=1e-6)
    assert float((got - (lg + nas)).norm()) > 0.5 * float(nas.norm()) > 0  # the sign matters
    for p, b in zip(wp + [state.alpha], grad_nas[len(gp):]):
        torch.testing.assert_close(p.grad, b, rtol=1e-4, atol=1e-6)
