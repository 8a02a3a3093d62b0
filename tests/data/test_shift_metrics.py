"""OoD-Bench shift metrics: balancing, the formulas on hand-made densities, calibration, determinism."""

import warnings

import numpy as np
import pytest
import torch

from archscout.data import DatasetError, load_split
from archscout.data._shift_metrics import (Densities, ShiftMetricsConfig, ShiftMetricWarning, balance_classes,
                                           bisect_threshold, calibrate, check_balanced, correlation, diversity,
                                           estimate_densities, measure_shift, prepare_sides)
from archscout.exceptions import ArchscoutError
from helpers import one_torch_thread

TINY = dict(trials=1, epochs=2, swa_start=1, samples=1000, dim_z=2, width=4)


# --- label-shift-free data ---------------------------------------------------------------------------

def test_balance_keeps_min_count_per_class_on_each_side():
    y_p = np.array([0] * 10 + [1] * 3 + [2] * 5)
    y_q = np.array([0] * 4 + [1] * 7 + [3] * 2)
    ip, iq = balance_classes(y_p, y_q, seed=0)
    assert sorted(y_p[ip].tolist()) == sorted(y_q[iq].tolist()) == [0] * 4 + [1] * 3  # classes 2, 3: one side only
    assert len(set(ip)) == len(ip) and len(set(iq)) == len(iq)
    capped = balance_classes(y_p, y_q, seed=0, max_per_class=2)
    assert len(capped[0]) == len(capped[1]) == 4


def test_unequal_counts_are_refused():
    check_balanced(np.array([0, 0, 1]), np.array([1, 0, 0]))
    with pytest.raises(DatasetError, match="equal per-class counts.*class 1: 1 in p, 2 in q"):
        check_balanced(np.array([0, 0, 1]), np.array([0, 0, 1, 1]))
    z = np.random.default_rng(0).normal(size=(7, 2))
    with pytest.raises(DatasetError, match="equal per-class counts"):
        estimate_densities(np.array([0, 0, 0, 1]), z[:4], np.array([0, 0, 1]), z[4:])


@pytest.mark.parametrize("force_iid", [False, True])
def test_sides_are_balanced_split_and_disjoint(force_iid):
    rng = np.random.default_rng(1)
    y_p, y_q = rng.integers(0, 3, 300), rng.integers(0, 3, 120)
    s = prepare_sides(y_p, y_q, seed=3, force_iid=force_iid)
    y = np.concatenate([y_p, y_q])
    (pin, pout), (qin, qout) = s["p"], s["q"]
    every = np.concatenate([pin, pout, qin, qout])
    assert len(set(every)) == len(every)
    for a, b in ((pin, qin), (pout, qout)):
        assert np.array_equal(np.bincount(y[a], minlength=3), np.bincount(y[b], minlength=3))
    assert abs(len(pout) / (len(pin) + len(pout)) - 0.2) < 0.03
    from_q = np.concatenate([pin, pout]) >= len(y_p)  # force_iid: new p takes about half from q
    assert (0.4 < from_q.mean() < 0.6) if force_iid else not from_q.any()


# --- the formulas on hand-made densities ------------------------------------------------------------------

def _uniform(a, b):
    return lambda z: ((z >= a) & (z <= b)) / (b - a)


@pytest.mark.parametrize("formula", ["legacy", "current"])
def test_diversity_disjoint_identical_and_half_overlap(formula):
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.uniform(0, 1, 5000), rng.uniform(2, 3, 5000)])  # samples of r = (p + q) / 2
    p, q = _uniform(0, 1)(z), _uniform(2, 3)(z)
    assert diversity(p, q, (p + q) / 2, 1e-12, formula) == pytest.approx(1.0)
    r = (p + q) / 2
    assert diversity(r, r, r, 1e-12, formula) == 0.0
    z = np.concatenate([rng.uniform(0, 2, 10000), rng.uniform(1, 3, 10000)])
    p, q = _uniform(0, 2)(z), _uniform(1, 3)(z)
    assert diversity(p, q, (p + q) / 2, 1e-12, formula) == pytest.approx(0.5, abs=0.02)
    assert diversity(p, q, (p + q) / 2, 0.0, formula) == 0.0  # no point counts as off-support


def test_correlation_legacy_vs_current():
    """p(z) = q(z) uniform, two balanced classes: p(y=0|z) = 0.9, q(y=0|z) = 0.1. Legacy: 1/2 sum_y
    |p(y|z) - q(y|z)| = 0.8; current: 1/2 sum_y (sqrt p(y|z) - sqrt q(y|z))^2 = 0.4."""
    m = 1000
    one = np.ones(m)
    p_y, q_y = [1.8 * one, 0.2 * one], [0.2 * one, 1.8 * one]  # p(z|y) = p(y|z) p(z) / p(y)
    assert correlation(one, one, one, p_y, q_y, [5, 5], 5e-4, "legacy") == pytest.approx(0.8)
    assert correlation(one, one, one, p_y, q_y, [5, 5], 5e-4, "current") == pytest.approx(0.4)
    assert correlation(one, one, one, p_y, p_y, [5, 5], 5e-4, "current") == pytest.approx(0.0)
    assert correlation(one, one, one, p_y, q_y, [5, 5], 1.5, "legacy") == 0.0  # no point on the shared support


def test_kde_estimates_on_synthetic_features():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 150)
    far = estimate_densities(y, rng.normal(0, 1, (300, 2)), y, rng.normal(12, 1, (300, 2)), 4000, seed=0)
    assert diversity(far.p, far.q, far.r, 1e-12) > 0.9
    same = estimate_densities(y, rng.normal(0, 1, (300, 2)), y, rng.normal(0, 1, (300, 2)), 4000, seed=0)
    assert diversity(same.p, same.q, same.r, 1e-12) < 0.05
    # colour-like feature: class 0 mostly at blob A in p and at blob B in q; the marginals agree
    blob = lambda at_a: np.where(at_a[:, None], [0.0, 0.0], [4.0, 0.0]) + rng.normal(0, 0.5, (300, 2))  # noqa: E731
    agree = rng.random(300) < 0.9
    flipped = estimate_densities(y, blob((y == 0) == agree), y, blob((y == 0) != agree), 4000, seed=0)
    assert diversity(flipped.p, flipped.q, flipped.r, 1e-12) < 0.05
    assert correlation(flipped.p, flipped.q, flipped.r, flipped.p_y, flipped.q_y, flipped.n_y, 5e-4, "legacy") > 0.5


def test_a_class_too_small_for_its_kde_is_skipped_with_a_warning():
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1])
    with pytest.warns(ShiftMetricWarning, match="class 1: the KDE failed on 1 points"):
        d = estimate_densities(y, rng.normal(size=(41, 2)), y, rng.normal(size=(41, 2)), 500)
    assert d.skipped == [1] and d.n_y == [40] and len(d.p_y) == len(d.q_y) == 1


# --- calibration -----------------------------------------------------------------------------------------------

def test_bisection_reaches_the_band_or_stops_at_the_nearest_bound():
    eps, v, ok, it = bisect_threshold(lambda e: e * 1e4, 0.0, 1e-6, (0.005, 0.01), increasing=True)
    assert ok and 0.005 <= v <= 0.01 and it <= 20 and v == eps * 1e4
    eps, v, ok, _ = bisect_threshold(lambda e: 0.02 * (1 - e), 0.0, 1.0, (0.005, 0.01), increasing=False)
    assert ok and 0.005 <= v <= 0.01
    eps, v, ok, it = bisect_threshold(lambda e: 0.5 + e, 0.0, 1.0, (0.005, 0.01), increasing=True)
    assert not ok and it == 20 and eps < 1e-5  # always too high: eps runs to the low end


def test_calibrate_on_hand_made_densities():
    """p uniform in (0, 1), q = 2p, r = 1: diversity(eps) = c eps^2 / 4 (c = 1 legacy, (sqrt 2 - 1)^2
    current); one class with p(z|y) = 1, q(z|y) = 0: correlation(eps) = (1 - eps) / sqrt 2."""
    m = 20000
    p = np.random.default_rng(0).uniform(0, 1, m)
    d = Densities(r=np.ones(m), p=p, q=2 * p, p_y=[np.ones(m)], q_y=[np.zeros(m)], n_y=[1])
    cfg = ShiftMetricsConfig(eps_div_range=(0.0, 1.0))
    for formula, scale in (("legacy", 1.0), ("current", (2**0.5 - 1) ** 2)):
        cal = calibrate([d], cfg, formula)
        assert cal.converged and 0.005 <= cal.iid_diversity <= 0.01 and 0.005 <= cal.iid_correlation <= 0.01
        assert cal.iid_diversity == pytest.approx(scale * cal.eps_div**2 / 4, rel=0.05)
        assert cal.iid_correlation == pytest.approx((1 - cal.eps_cor) / 2**0.5, abs=1e-3)
    same = Densities(r=np.ones(m), p=p, q=2 * p, p_y=[np.ones(m)], q_y=[2 * np.ones(m)], n_y=[1])  # no correlation
    with pytest.warns(ShiftMetricWarning, match="did not bring both iid shifts"):
        cal = calibrate([same], cfg)
    assert not cal.converged and cal.iid_correlation == 0.0 and cal.eps_cor < 1e-5


# --- the whole estimate ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    with one_torch_thread():
        yield load_split("digits-shift", "correlation", per_domain=300)


def test_measure_shift_is_deterministic_and_reports_both_formulas(digits):
    cfg = ShiftMetricsConfig(**TINY)
    with warnings.catch_warnings():  # tiny settings: calibration may miss its band
        warnings.simplefilter("ignore", ShiftMetricWarning)
        a = measure_shift(digits, config=cfg).to_dict()
        b = measure_shift(digits, config=cfg).to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    assert a["suite"] == "digits-shift-v1" and a["split"] == "correlation" and a["calibrated"] is True
    assert a["formula"] == "current" and a["other_formula"]["formula"] == "legacy"
    assert 0 <= a["diversity"]["mean"] <= 1.1 and 0 <= a["correlation"]["mean"] <= 1.1
    assert a["per_trial"][0]["per_side"] == 300 and 55 <= a["per_trial"][0]["held_out_per_side"] <= 65
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShiftMetricWarning)
        c = measure_shift(digits, config=ShiftMetricsConfig(**{**TINY, "seed": 1, "calibrate": False})).to_dict()
    assert c["calibration"] is None and c["thresholds"] == {"eps_div": 1e-12, "eps_cor": 5e-4}
    assert c["per_trial"][0]["seed"] == 1 and c["other_formula"]["correlation"] != a["other_formula"]["correlation"]


@pytest.mark.parametrize("kwargs, message", [
    ({"formula": "hellinger"}, "unknown formula 'hellinger'"),
    ({"trials": 0}, "trials 0 must be a positive number"),
    ({"swa_start": 10}, "swa_start 10 must be below epochs 10"),
    ({"band": (0.01, 0.005)}, "band"),
])
def test_config_validates_on_construction(kwargs, message):
    with pytest.raises(ArchscoutError, match=message):
        ShiftMetricsConfig(**kwargs)


def test_no_class_left_gives_nan_correlation_and_valid_json():
    import json

    from archscout.data._shift_metrics import Estimate, ShiftResult

    one = np.ones(10)
    assert np.isnan(correlation(one, one, one, [], [], [], 5e-4))
    est = Estimate("current", 1e-12, 5e-4, [0.1], [float("nan")], None)
    r = ShiftResult("s", "iid", ShiftMetricsConfig(trials=1), est, est, [{"seed": 0}], 1.0)
    out = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert out["correlation"] == {"mean": None, "std": None, "values": [None]} and out["diversity"]["mean"] == 0.1


@pytest.mark.slow
def test_fmnist_ordering_acceptance():
    """The acceptance check on fmnist-shift (a few minutes): correlation split -> correlation >> diversity;
    rotation split -> diversity >> correlation; iid -> both near zero. Figures: docs/shift_metrics.md."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = ShiftMetricsConfig(trials=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShiftMetricWarning)
            got = {s: measure_shift("fmnist-shift", s, config=cfg) for s in ("correlation", "rotation", "iid")}
    finally:
        torch.set_num_threads(threads)
    assert got["correlation"].correlation[0] > 10 * got["correlation"].diversity[0]
    assert got["rotation"].diversity[0] > 2 * got["rotation"].correlation[0]
    assert max(got["iid"].diversity[0], got["iid"].correlation[0]) < 0.03
