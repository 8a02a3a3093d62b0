import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from archscout.oneshot._sparse import SparseCoding, darts_groups, fista_lasso, lasso_objective, nb201_groups


@pytest.mark.parametrize("trial", range(8))
def test_fista_matches_sklearn_lasso(trial):
    rng = np.random.default_rng(trial)
    p, n = 7, [14, 21, 28, 35, 5, 7, 14, 35][trial]
    A = rng.uniform(0, 1, (p, n))
    z = (1e-3 if trial % 2 else 1e-2) * rng.standard_normal(p)
    gamma = 1e-5
    x = fista_lasso(A, z, gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Lasso(alpha=gamma / p, fit_intercept=False, tol=1e-16, max_iter=10**6).fit(A, z).coef_
    np.testing.assert_allclose(x, ref, atol=1e-5, rtol=0)
    assert lasso_objective(A, z, x, gamma) <= lasso_objective(A, z, ref, gamma) + 1e-12


def test_fista_zero_when_gamma_dominates():
    A = np.ones((3, 4))
    z = np.array([1e-4, 0, 0])
    assert not fista_lasso(A, z, gamma=1.0).any()


def test_groups_layout():
    g = darts_groups()
    assert [len(x) for x in g] == [14, 21, 28, 35] * 2
    flat = sorted(i for x in g for i in x)
    assert len(set(flat)) == 2 * 14 * 7 and all(i % 8 != 0 for i in flat)  # never 'none'
    assert g[4][0] == 14 * 8 + 1  # reduce cell, node 0, edge 0, first op
    assert nb201_groups()[5] == [25, 26, 27, 28, 29]


def test_exactly_sparseness_nonzero_weights_and_one_ista_step():
    gen = torch.Generator().manual_seed(0)
    code = SparseCoding(darts_groups(), (2, 14, 8), proj_dims=7, sparseness=2, generator=gen)
    z = code.init_z(gen).requires_grad_()
    code.recover(z)
    code.project()
    w = code.weights(z)
    assert w.shape == (2, 14, 8)
    flat = w.reshape(-1)
    for g, s in zip(code.groups, code.supports()):
        nz = (flat[g] != 0).nonzero().flatten().numpy()
        assert len(nz) == 2 and np.array_equal(nz, s)
    assert int((w != 0).sum()) == 2 * 8
    # w_S = x_S + A_S^T (z - A_S x_S) on group 0, no softmax, signed
    s = code.supports()[0]
    A = code.A[0].numpy()[:, s]
    xs = code.x_last[0][s]
    expect = xs + A.T @ (z[0].detach().double().numpy() - A @ xs)
    np.testing.assert_allclose(flat[code.groups[0]][s].detach().numpy(), expect, rtol=1e-4, atol=1e-8)
    w.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_freeze_flags_and_restore():
    gen = torch.Generator().manual_seed(1)
    code = SparseCoding(nb201_groups(), (6, 5), proj_dims=7, sparseness=1, generator=gen)
    z = code.init_z(gen)
    d0 = code.recover(z)  # first recovery: never freezes
    assert not code.frozen.any() and all(d > 0 for d in d0)
    z2 = z.clone()
    z2[:3] += 1.0  # groups 0-2 move a lot, 3-5 do not
    code.recover(z2)
    assert code.frozen.tolist() == [False, False, False, True, True, True]
    frozen_x = [x.copy() for x in code.x_last]
    z3 = z2 + 0.5
    code.restore_frozen(z3, z2)
    assert torch.equal(z3[3:], z2[3:]) and torch.equal(z3[:3], z2[:3] + 0.5)
    dist = code.recover(z3)
    assert dist[3:] == [0.0, 0.0, 0.0] and all(np.array_equal(a, b) for a, b in zip(code.x_last[3:], frozen_x[3:]))
    code.recover(z3)  # unchanged z: the rest freeze too
    assert code.frozen.all()
    # round trip through a state dict
    other = SparseCoding(nb201_groups(), (6, 5), sparseness=1)
    other.load_state_dict(code.state_dict())
    assert other.frozen.all() and all(np.array_equal(a, b) for a, b in zip(other.x_last, code.x_last))
    assert torch.equal(other.weights(z3), code.weights(z3))
    dist = code.distribution()
    np.testing.assert_allclose(dist.sum(-1), 1.0)
