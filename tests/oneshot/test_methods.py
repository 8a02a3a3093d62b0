import numpy as np
import pytest
import torch

from archscout.nn._supernet import EDGES_FROM, NB201Supernet, SearchCell
from archscout.oneshot import get_method, get_profile
from archscout.oneshot._base import SearchState
from archscout.oneshot._gdas import GDAS, gumbel_straight_through
from archscout.spaces import get_space

from .conftest import TINY


def test_darts_distribution_rows_sum_to_one_and_reproduce(digits):
    cfg = get_profile("darts", "cpu", **TINY)
    a = get_method("darts").search("nb201", digits, cfg)
    b = get_method("darts").search("nb201", digits, cfg)
    assert a.distribution.shape == (6, 5) and np.allclose(a.distribution.sum(-1), 1.0)
    assert np.array_equal(a.distribution, b.distribution) and a.arch == b.arch
    assert a.arch == get_space("nb201").make(a.distribution.argmax(-1).tolist())  # argmax, 'none' included


def test_gdas_tau_schedule_is_linear_per_epoch():
    cfg = get_profile("gdas", "cpu", epochs=5)
    taus = [GDAS.tau(cfg, e) for e in range(1, 6)]
    assert taus[0] == 10.0 and taus[-1] == pytest.approx(0.1) and np.allclose(np.diff(taus), -9.9 / 4)


def test_gdas_entropy_falls_from_its_start(digits):
    # algorithms.md §13.3's check for GDAS. alpha starts as 1e-3 * N(0, 1): an entropy within about 1e-6
    # of log(5). Nine alpha steps at 3e-4 barely show in float32, so this run takes larger steps
    cfg = get_profile("gdas", "cpu", **{**TINY, "epochs": 3, "arch_lr": 0.05})
    result = get_method("gdas").search("nb201", digits, cfg)
    ent = [h["entropy"] for h in result.history]
    assert len(ent) == 3 and ent[-1] < np.log(5) - 1e-3, ent


def test_gdas_sample_is_one_hot_with_gradient_to_every_alpha():
    alpha = (1e-3 * torch.randn(6, 5)).requires_grad_()
    w, k = gumbel_straight_through(alpha, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(w.detach(), torch.nn.functional.one_hot(k, 5).float())
    net = NB201Supernet(C=4, N=1)
    net(torch.randn(4, 3, 8, 8), weights=w, index=k).logsumexp(1).sum().backward()
    assert bool((alpha.grad != 0).all())


def _record_ops(monkeypatch):
    """Patch the search cell to log the (edge, op) pairs it computes."""
    done = []
    conv, pool = SearchCell.conv, SearchCell.pool

    def counting_conv(self, source, op, slots, r):
        done.extend((EDGES_FROM[source][s], op) for s in slots)
        return conv(self, source, op, slots, r)

    def counting_pool(x):
        done.append(("pool", x.data_ptr()))
        return pool(x)

    monkeypatch.setattr(SearchCell, "conv", counting_conv)
    monkeypatch.setattr(SearchCell, "pool", staticmethod(counting_pool))
    return done


@pytest.mark.parametrize("method", ["gdas", "spos"])
def test_one_op_computed_per_edge(monkeypatch, method):
    torch.manual_seed(0)
    m = get_method(method)
    net = NB201Supernet(C=4, N=1)
    state = SearchState(net, get_profile(method, "cpu"), torch.optim.SGD(net.parameters(), lr=0.1))
    m.init_arch(state)
    state.extra["tau"] = 1.0
    for seed in range(20):
        state.generator = torch.Generator().manual_seed(seed)
        kwargs = m.sample(state)
        ops = kwargs["index"].tolist()
        done = _record_ops(monkeypatch)
        net(torch.randn(2, 3, 8, 8), **kwargs)
        convs = {(e, o) for e, o in done if e != "pool"}
        assert len([d for d in done if d[0] != "pool"]) == 3 * len(convs)  # each conv once per cell
        assert convs == {(e, o) for e, o in enumerate(ops) if o in (2, 3)}
        pooled_sources = {s for s, edges in enumerate(EDGES_FROM) if any(ops[e] == 4 for e in edges)}
        assert len([d for d in done if d[0] == "pool"]) == 3 * len(pooled_sources)  # shared by a source's edges
        monkeypatch.undo()


def test_spos_scores_candidates_and_returns_the_best(digits):
    cfg = get_profile("spos", "cpu", **{**TINY, "candidates": 8, "top_fraction": 0.25})
    r = get_method("spos").search("nb201", digits, cfg)
    cands = r.details["candidates"]
    assert r.details["scored"] == 8 == len({c["index"] for c in cands})
    assert cands[0]["arch"] == r.arch_str and cands[0]["acc"] == max(c["acc"] for c in cands)
    assert np.allclose(r.distribution.sum(-1), 1.0) and set(np.unique(r.distribution)) <= {0.0, 0.5, 1.0}
    assert "arch_loss" not in r.history[0]


def _darts_state(second_order, lr):
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1)
    cfg = get_profile("darts", "cpu", second_order=second_order, lr=lr, lr_min=0.0)
    state = SearchState(net, cfg, torch.optim.SGD(net.parameters(), lr=lr))
    get_method("darts").init_arch(state)
    g = torch.Generator().manual_seed(0)
    state.weight_batch = (torch.randn(8, 3, 8, 8, generator=g), torch.randint(10, (8,), generator=g))
    return state, (torch.randn(8, 3, 8, 8, generator=g), torch.randint(10, (8,), generator=g))


def test_darts_second_order_restores_weights_and_tends_to_first_order():
    grads = {}
    for second in (False, True):
        state, (x, y) = _darts_state(second, lr=1e-6)
        before = {k: v.clone() for k, v in state.supernet.state_dict().items()}
        state.arch_optimizer.step = lambda: None  # keep alpha to read its gradient
        get_method("darts").arch_step(state, x, y)
        grads[second] = state.alpha.grad.clone()
        if second:  # the virtual steps leave no trace in the weights and BN statistics
            after = state.supernet.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.allclose(grads[True], grads[False], rtol=0, atol=5e-5)
    state, (x, y) = _darts_state(True, lr=0.5)  # a large xi changes the gradient
    state.arch_optimizer.step = lambda: None
    get_method("darts").arch_step(state, x, y)
    assert not torch.allclose(state.alpha.grad, grads[False], rtol=0, atol=1e-3)


@pytest.mark.parametrize("strategy", ["rea", "optuna-tpe"])
def test_spos_candidates_from_a_multi_trial_strategy(digits, raspi4, strategy):
    cfg = get_profile("spos", "cpu", **{**TINY, "epochs": 1, "candidates": 6, "strategy": strategy})
    cost = raspi4.with_target(10.0)  # 13 % of the archs meet it
    r = get_method("spos").search("nb201", digits, cfg, cost=cost)
    cands = r.details["candidates"]
    assert r.details["strategy"] == strategy and len(cands) == 6 == len({c["index"] for c in cands})
    costs = cost.true_costs()
    assert all(costs[c["index"]] <= 10.0 for c in cands) and r.cost["meets_target"]
    assert cands[0]["acc"] == max(c["acc"] for c in cands)


def test_spos_unknown_strategy():
    from archscout.exceptions import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown SPOS candidate strategy 'evo'"):
        get_profile("spos", "cpu", strategy="evo")


def test_gdas_redraws_on_inf(monkeypatch):
    real, calls = torch.Tensor.exponential_, []

    def first_zero(self, *args, **kwargs):  # Exponential(1) = 0 gives an infinite Gumbel sample
        calls.append(1)
        return self.zero_() if len(calls) == 1 else real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "exponential_", first_zero)
    w, k = gumbel_straight_through(torch.zeros(6, 5), 1.0, torch.Generator().manual_seed(0))
    assert len(calls) == 2 and bool(torch.isfinite(w).all()) and k.shape == (6,)
