import json

import numpy as np
import pandas as pd
import pytest

from archscout.exceptions import UnknownNameError
from archscout.hardware import NB201Bench, get_cost_model
from archscout.hardware._nb201 import HWNB_NB201_METRICS
from archscout.hardware._tables import load_arrays

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


@pytest.fixture(scope="module")
def notebook(fixtures):
    return json.loads((fixtures / "hwnasbench_notebook.json").read_text())["nasbench201"]


@pytest.mark.parametrize("index", ["0", "1", "2"])
@pytest.mark.parametrize("dataset", DATASETS)
def test_official_notebook_values_exactly(notebook, index, dataset):
    got = get_cost_model("nb201", dataset).query(int(index))
    expected = notebook[index][dataset]
    assert len(expected) == 11
    for metric, value in expected.items():
        assert got[metric] == value, metric  # bit-for-bit, including the product


def test_algorithms_md_checks():
    im = get_cost_model("nb201", "ImageNet16-120").query(0)
    assert im["fpga_latency"] == 0.64912 and im["eyeriss_latency"] == 0.9145600000000003


def test_edgetpu_missing_is_nan_with_reason():
    bench = get_cost_model("nb201", "cifar10")
    tpu = bench.column("edgetpu_latency")
    assert np.isnan(tpu).sum() == 4699
    assert (bench.table(list(HWNB_NB201_METRICS)).fillna(1).to_numpy() > 0).all()  # no -1 survives
    missing = int(np.flatnonzero(np.isnan(tpu))[0])
    assert "no Edge TPU measurement" in bench.missing_reason(missing, "edgetpu_latency")
    assert "edgetpu_latency" in bench.missing_reason(missing, "average_hw_metric")
    assert bench.missing_reason(0, "edgetpu_latency") is None
    # never a winner: the fastest Edge TPU arch is a measured one
    best = bench.table(["edgetpu_latency"])["edgetpu_latency"].idxmin()
    assert not np.isnan(tpu[best]) and tpu[best] == np.nanmin(tpu)


def test_geomean_and_product():
    q = get_cost_model("nb201", "cifar100").query(5)
    parts = [q[m] for m in HWNB_NB201_METRICS if m != "eyeriss_arithmetic_intensity"]
    assert q["geomean_hw_metric"] == pytest.approx(np.prod(parts) ** (1 / 9))
    assert q["average_hw_metric"] == pytest.approx(np.prod(parts))


def test_help_devices_and_duplicates():
    bench = get_cost_model("nb201", "cifar10")
    assert {"1080ti_latency_bs1", "gold_6226_latency", "pixel2_latency"} <= set(bench.metrics)
    assert "1080ti_latency_bs1" not in get_cost_model("nb201", "cifar100").metrics
    help_cols = load_arrays("help_nb201_latency.npz")
    for dev in ("eyeriss", "fpga", "pixel3", "raspi4"):  # HELP repeats HW-NAS-Bench's cifar10 vectors
        assert np.array_equal(help_cols[dev], bench.column(f"{dev}_latency"))


def test_accuracy_join_reproduces_nb201_optima():
    c10, c100, im = (get_cost_model("nb201", d) for d in DATASETS)
    assert round(c10.column("valid_acc").max(), 3) == 91.607
    assert round(c100.column("valid_acc").max(), 3) == 73.493
    assert round(c100.column("test_acc").max(), 3) == 73.513
    assert round(im.column("valid_acc").max(), 3) == 46.733
    assert round(im.column("test_acc").max(), 3) == 47.311
    assert round(c10.query(1835)["test_acc"], 2) == 39.99  # all-skip, cifar10-valid setting
    assert "cifar10-valid" in c10.accuracy_setting


def test_vectorized_matches_single():
    bench = get_cost_model("nb201", "ImageNet16-120")
    table = bench.table()
    assert table.shape[0] == 15625 and list(table.columns) == list(bench.metrics)
    some = bench.query_many([0, "77", bench.space.from_index(15624)])
    assert list(some.index) == [0, 77, 15624]
    for i in (0, 77, 15624):
        single = bench.query(i)
        row = table.loc[i]
        for m in bench.metrics:
            assert (np.isnan(single[m]) and np.isnan(row[m])) or single[m] == row[m]
    assert bench.query(3, ["params"]) == {"params": bench.column("params")[3]}


def test_params_depend_on_dataset_head():
    p = [get_cost_model("nb201", d).query(0)["params"] for d in DATASETS]
    assert p[1] - p[0] == 90 * 64 + 90 and p[2] - p[1] == 20 * 64 + 20


def test_errors():
    with pytest.raises(UnknownNameError, match="unknown nb201 dataset 'cifar-10'; choose from: cifar10"):
        NB201Bench("cifar-10")
    with pytest.raises(UnknownNameError, match="metric 'latency'"):
        get_cost_model("nb201", "cifar10").query(0, ["latency"])
    with pytest.raises(UnknownNameError, match="unknown space 'darts'; choose from: "):
        get_cost_model("darts", "cifar10")


def test_frame_is_read_only_view_safe():
    bench = get_cost_model("nb201", "cifar10")
    t = bench.table()
    t.loc[0, "edgegpu_latency"] = -5.0
    assert bench.query(0)["edgegpu_latency"] == 5.807418537139893
    assert isinstance(t, pd.DataFrame)
