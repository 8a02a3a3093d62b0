import math

import pytest

from archscout.evaluation import FBNetCostEvaluator, NB201TabularEvaluator
from archscout.exceptions import UnknownNameError


def test_nb201_signal_is_valid_reported_is_test():
    ev = NB201TabularEvaluator("cifar100")
    res = ev.evaluate(ev.space.from_index(0))
    assert res.values["valid_acc"] == ev.bench.query(0)["valid_acc"]
    assert res.values["valid_error"] == pytest.approx(100 - res.values["valid_acc"])
    assert "test_acc" not in res.values and res.reported["test_acc"] == ev.bench.query(0)["test_acc"]
    assert set(res.values) == set(ev.metrics)
    assert res.values["raspi4_latency"] == ev.bench.query(0)["raspi4_latency"]
    assert res.cost_s > 0 and ev.evaluate(ev.space.from_index(0), budget=12).cost_s < res.cost_s


def test_nb201_missing_cost_stays_nan():
    ev = NB201TabularEvaluator("cifar10")
    assert math.isnan(ev.evaluate(ev.space.from_index(9)).values["edgetpu_latency"])


def test_fbnet_cost_only():
    ev = FBNetCostEvaluator("ImageNet")
    res = ev.evaluate(ev.space.make([0] * 22))
    assert res.values["fpga_energy"] == 205.95329999999998 and "valid_acc" not in res.values


def test_bad_dataset():
    with pytest.raises(UnknownNameError):
        NB201TabularEvaluator("cifar")
