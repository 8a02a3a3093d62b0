import json

import numpy as np
import pytest

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.hardware import count_macs, count_params, fbnet_params_macs, get_cost_model
from archscout.hardware._fbnet import HWNB_FBNET_METRICS, lut_keys
from archscout.hardware._tables import load_arrays, load_json
from archscout.nn import FBNetNetwork
from archscout.spaces import get_space


@pytest.fixture(scope="module")
def notebook(fixtures):
    return json.loads((fixtures / "hwnasbench_notebook.json").read_text())["fbnet"]


@pytest.mark.parametrize("key", ["0000000000000000000000", "0000000000000000000001", "0000000000000000000011"])
@pytest.mark.parametrize("dataset", ["cifar100", "ImageNet"])
def test_official_notebook_values_exactly(notebook, key, dataset):
    got = get_cost_model("fbnet", dataset).query([int(c) for c in key])
    for metric, value in notebook[key][dataset].items():
        assert got[metric] == value, metric


def test_lut_sums_equal_help_for_all_5000_archs():
    lut = get_cost_model("fbnet", "cifar100")
    help_ = load_arrays("help_fbnet_latency.npz")
    assert help_["op_idx"].shape == (5000, 22)
    sums = lut.lut_sum(help_["op_idx"])
    for dev in ("eyeriss", "fpga", "pixel3", "raspi4"):
        assert np.array_equal(sums[f"{dev}_latency"], help_[dev]), dev


def test_help_devices_only_for_sampled_archs():
    lut = get_cost_model("fbnet", "cifar100")
    sampled = load_arrays("help_fbnet_latency.npz")["op_idx"][3].tolist()
    q = lut.query(sampled)
    assert q["1080ti_latency_bs1"] == load_arrays("help_fbnet_latency.npz")["1080ti_1"][3]
    other = lut.query([0] * 22)
    assert np.isnan(other["1080ti_latency_bs1"])
    assert "5,000 sampled" in lut.missing_reason([0] * 22, "1080ti_latency_bs1")
    assert "1080ti_latency_bs1" not in get_cost_model("fbnet", "ImageNet").metrics


@pytest.mark.parametrize("dataset", ["cifar100", "ImageNet"])
def test_every_lut_key_exists(dataset):
    luts = load_json("fbnet_luts.json.gz")
    stem, layers, head = lut_keys(dataset)
    for metric in HWNB_FBNET_METRICS:
        for key in [stem, *head, *(k for ks in layers for k in ks)]:
            assert key in luts[metric], key


def test_vectorized_many():
    lut = get_cost_model("fbnet", "ImageNet")
    space = get_space("fbnet")
    archs = [space.sample(s) for s in range(20)]
    df = lut.query_many(archs)
    assert df.shape == (20, len(lut.metrics))
    one = lut.query(archs[4])
    assert all(one[m] == df.iloc[4][m] or np.isnan(one[m]) for m in lut.metrics)


@pytest.mark.parametrize("dataset,size", [("cifar100", 32), ("ImageNet", 224)])
def test_closed_form_params_macs_equal_built_network(dataset, size):
    space = get_space("fbnet")
    archs = [space.sample(1), space.make([8] * 22), space.make([0] * 22)]
    params, macs = fbnet_params_macs(np.array([a.ops for a in archs]), dataset)
    for a, p, m in zip(archs[: 3 if dataset == "cifar100" else 1], params, macs):
        net = FBNetNetwork(a, dataset=dataset)
        assert count_params(net) == p
        assert count_macs(net, (1, 3, size, size)) == m


def test_errors():
    with pytest.raises(UnknownNameError, match="unknown fbnet dataset 'imagenet'; choose from: ImageNet"):
        get_cost_model("fbnet", "imagenet")
    with pytest.raises(InvalidArchError, match="22"):
        get_cost_model("fbnet", "cifar100").query([0] * 21)
