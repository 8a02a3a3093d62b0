import numpy as np
import pytest
import torch

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import get_cost_model
from archscout.oneshot import OpCost, get_method, get_profile
from archscout.spaces import get_space

from helpers import one_line

from .conftest import TINY


def test_fit_reports_quality(raspi4):
    assert raspi4.metric == "raspi4_latency" and raspi4.unit == "ms" and raspi4.table.shape == (6, 5)
    assert np.all(raspi4.table[:, 0] == 0) and raspi4.quality["archs"] == 15625
    assert raspi4.quality["spearman"] > 0.8 and 0 < raspi4.quality["within_10pct"] <= 1


def test_expected_cost_of_one_hot_is_the_table_sum(raspi4):
    space = get_space("nb201")
    for i in (0, 123, 1835, 9930):
        arch = space.from_index(i)
        probs = torch.nn.functional.one_hot(torch.tensor(arch.ops), 5).double()
        table_sum = raspi4.intercept + sum(raspi4.table[e, o] for e, o in enumerate(arch.ops))
        assert float(raspi4.expected(probs)) == pytest.approx(table_sum) == pytest.approx(raspi4.estimate(arch))


def test_penalty_form_and_gradient(raspi4):
    alpha = torch.zeros(6, 5, requires_grad=True)
    probs = alpha.softmax(-1)
    expected = float(raspi4.expected(probs.detach()))
    assert float(raspi4.penalty(probs.detach())) == 0.0  # no target
    loose, tight = raspi4.with_target(2 * expected, 3.0), raspi4.with_target(expected / 2, 3.0)
    assert float(loose.penalty(probs.detach())) == 0.0
    pen = tight.penalty(probs)
    assert float(pen.detach()) == pytest.approx(3.0 * (expected / (expected / 2) - 1))
    pen.backward()
    assert bool((alpha.grad[:, 3] > 0).all()) and bool((alpha.grad[:, 0] < 0).all())  # descent: conv3x3 down


def test_hard_constraint_meets_the_target(raspi4):
    costs = get_cost_model("nb201", "cifar10").column("raspi4_latency")
    probs = np.full((6, 5), 0.02)
    probs[:, 3] = 0.92  # all conv3x3 is the most probable, and the slowest family
    space = get_space("nb201")
    assert raspi4.most_probable_feasible(probs) == space.from_index(1462)
    target = 8.0
    assert costs[1462] > target
    arch = raspi4.with_target(target).most_probable_feasible(probs)
    assert costs[space.index(arch)] <= target
    report = raspi4.with_target(target).report(arch)
    assert report["meets_target"] and report["value"] <= target and report["fit"]["archs"] == 15625
    assert {"raspi4_latency", "edgegpu_latency", "pixel3_latency", "fpga_latency"} <= set(report["latency_ms"])


def test_impossible_target_and_unknown_names(raspi4):
    low = float(np.nanmin(raspi4.true_costs()[~get_space("nb201").disconnected_mask()]))
    one_line(ArchscoutError, lambda: raspi4.with_target(low / 2), "minimum achievable", f"{low:.4g}")
    with pytest.raises(UnknownNameError, match="unknown device"):
        OpCost.fit(device="toaster")
    with pytest.raises(UnknownNameError, match="cost space"):
        OpCost.fit(space="fbnet")


@pytest.mark.parametrize("method", ["darts", "gdas", "spos"])
def test_search_with_target_derives_a_feasible_arch(digits, raspi4, method):
    cost = raspi4.with_target(5.0, weight=2.0)
    extra = {"candidates": 5} if method == "spos" else {}
    r = get_method(method).search("nb201", digits, get_profile(method, "cpu", **{**TINY, "epochs": 1, **extra}),
                                  cost=cost)
    assert r.cost["meets_target"] and r.cost["value"] <= 5.0 and r.cost["target"] == 5.0
    assert r.config["cost"]["device"] == "raspi4"
    if method != "spos":
        assert r.history[0]["expected_cost"] > 0


def test_penalty_lowers_the_expected_cost(digits, raspi4):
    cfg = get_profile("darts", "cpu", **{**TINY, "arch_lr": 0.05})
    free = get_method("darts").search("nb201", digits, cfg, cost=raspi4)
    tight = get_method("darts").search("nb201", digits, cfg, cost=raspi4.with_target(5.0, weight=10.0))
    assert tight.history[-1]["expected_cost"] < free.history[-1]["expected_cost"] - 1.0


def test_feasible_cells_are_connected_and_zero_probabilities_are_fine():
    from archscout.spaces import get_space

    sp = get_space("nb201")
    cost = OpCost.fit("nb201", "raspi4").with_target(10.0)
    probs = np.zeros((6, 5))
    probs[:, 0] = 1.0  # all 'none': the cheapest cell, and a cut-off one
    arch = cost.most_probable_feasible(probs)
    assert not sp.is_disconnected(arch) and cost.true_costs()[sp.index(arch)] <= 10.0
    cut_off_min = float(np.nanmin(cost.true_costs()))
    with pytest.raises(ArchscoutError, match="connected"):
        OpCost.fit("nb201", "raspi4").with_target(cut_off_min * 1.01)
