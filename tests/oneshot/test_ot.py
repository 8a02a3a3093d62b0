import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from archscout.oneshot._ot import GradReverse, grad_reverse, sinkhorn_distance


def _numpy_sinkhorn(a, b, eps, iters=20000):
    """Independent reference: the classic scaling form (K = exp(-C / eps)), run to convergence."""
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    mu, nu = np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b))
    k = np.exp(-cost / eps)
    u, v = np.ones(len(a)), np.ones(len(b))
    for _ in range(iters):
        u = mu / (k @ v)
        v = nu / (k.T @ u)
    plan = u[:, None] * k * v[None, :]
    return float((plan * cost).sum()), plan


@pytest.mark.parametrize("n,m,eps", [(6, 6, 1.0), (5, 8, 0.5), (7, 4, 2.0)])
def test_sinkhorn_matches_numpy_reference(n, m, eps):
    rng = np.random.default_rng(n * 10 + m)
    a, b = rng.normal(size=(n, 3)) * 0.7, rng.normal(size=(m, 3)) * 0.7 + 0.3
    ref, ref_plan = _numpy_sinkhorn(a, b, eps)
    # tol=0: run all iterations; the 1e-8 added to the marginals (as in NAS-OoD) shifts them by ~1e-7
    dist, plan = sinkhorn_distance(torch.tensor(a), torch.tensor(b), eps=eps, max_iter=3000, tol=0.0,
                                   return_plan=True)
    assert float(dist) == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(plan.numpy(), ref_plan, atol=1e-6)
    np.testing.assert_allclose(plan.sum(1).numpy(), 1 / n, atol=1e-6)


def test_sinkhorn_small_eps_is_exact_assignment():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    cost = ((a[:, None] - b[None]) ** 2).sum(-1)
    r, c = linear_sum_assignment(cost)
    exact = cost[r, c].mean()
    dist = sinkhorn_distance(torch.tensor(a), torch.tensor(b), eps=0.005, max_iter=5000, tol=1e-12)
    assert float(dist) == pytest.approx(exact, abs=2e-3)


def test_sinkhorn_defaults_float32_input_and_gradient():
    a = torch.randn(8, 64, requires_grad=True)
    b = torch.randn(8, 64) * 3
    d = sinkhorn_distance(a, b)  # eps 1 on unnormalized 64-d clouds: finite thanks to the log domain
    assert d.dtype == torch.float32 and torch.isfinite(d)
    d.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    same = sinkhorn_distance(b, b, eps=0.01, max_iter=500, tol=0.0)
    assert float(same) < 1e-3  # identical clouds: ~0 as eps -> 0


def test_sinkhorn_rejects_bad_shapes():
    with pytest.raises(ValueError):
        sinkhorn_distance(torch.randn(3, 2), torch.randn(3, 4))


def test_grad_reverse_flips_sign_exactly():
    torch.manual_seed(0)
    g = torch.nn.Conv2d(3, 3, 3, padding=1)
    f = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    f(g(x))

    def grads(reverse):
        for p in [*g.parameters(), *f.parameters()]:
            p.grad = None
        h = g(x)
        loss = torch.nn.functional.cross_entropy(f(grad_reverse(h) if reverse else h), y)
        loss.backward()
        return [p.grad.clone() for p in g.parameters()], [p.grad.clone() for p in f.parameters()]

    (g_plain, f_plain), (g_rev, f_rev) = grads(False), grads(True)
    for a, b in zip(g_plain, g_rev):
        assert torch.equal(b, -a)  # exactly -1 times
    for a, b in zip(f_plain, f_rev):
        assert torch.equal(a, b)  # the network after the GRL is unaffected
    x2 = torch.randn(3, requires_grad=True)
    GradReverse(0.5)(x2).sum().backward()
    assert torch.equal(x2.grad, torch.full((3,), -0.5))
