"""Pareto mask and hypervolume against brute force and Optuna's implementation."""

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from archscout._pareto import hypervolume, pareto_mask


def brute_mask(p):
    n = len(p)
    return np.array([not any(np.all(p[j] <= p[i]) and np.any(p[j] < p[i]) for j in range(n)) for i in range(n)])


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_pareto_mask_matches_brute_force_with_ties(k, seed):
    p = np.random.default_rng(seed).integers(0, 6, size=(60, k)).astype(float)  # many ties and duplicates
    assert (pareto_mask(p) == brute_mask(p)).all()


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_optuna(k):
    rng = np.random.default_rng(0)
    p = rng.random((40, k))
    ref = np.ones(k) * 1.1
    front = p[brute_mask(p)]
    assert hypervolume(p, ref) == pytest.approx(compute_hypervolume(front, ref, assume_pareto=True), rel=1e-12)


def test_hypervolume_hand_case():
    # two boxes: [0.2,1]x[0.6,1] and [0.5,1]x[0.3,1] overlap in [0.5,1]x[0.6,1]
    assert hypervolume(np.array([[0.2, 0.6], [0.5, 0.3], [0.9, 0.9], [1.5, 0.0]]), np.ones(2)) == \
        pytest.approx(0.8 * 0.4 + 0.5 * 0.7 - 0.5 * 0.4)
    assert hypervolume(np.zeros((0, 2)), np.ones(2)) == 0.0
