"""Devices imported from a latency table: validation, the registry entry, its columns and the cached prediction."""

import numpy as np
import pandas as pd
import pytest

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import _measured, get_cost_model, get_device, list_devices
from archscout.hardware._measured import drift_corrected, import_table, read_latency_table
from archscout.spaces import get_space
from helpers import one_line

SP = get_space("nb201")


@pytest.fixture
def store(device_store):
    return device_store


def _table(path, indices, latency, **extra):
    pd.DataFrame({"arch": indices, "latency_ms": latency, **extra}).to_csv(path, index=False)
    return path


def test_a_shipped_column_round_trips(store):
    raspi4 = get_cost_model("nb201", "cifar10").column("raspi4_latency")
    order = np.random.default_rng(0).permutation(SP.size)  # any row order; strings and indices mixed
    archs = [SP.to_str(SP.from_index(int(i))) if k % 2 else int(i) for k, i in enumerate(order)]
    out = import_table("myraspi", _table(store / "t.csv", archs, raspi4[order], energy_mJ=2 * raspi4[order]))
    assert out["status"] == "imported" and out["archs"] == SP.size and out["predicted"] is None
    dev = get_device("myraspi")
    assert dev.kind == "imported" and "myraspi" in list_devices() and out["sha256"][:12] in dev.source
    assert "t.csv" in dev.source and "measured here" not in dev.source and "this machine" not in dev.title
    assert {m.name: m.unit for m in dev.metrics} == {"myraspi_latency": "ms", "myraspi_energy": "mJ"}
    bench = get_cost_model("nb201", "cifar10")
    np.testing.assert_array_equal(bench.column("myraspi_latency"), raspi4)  # exactly: floats survive the CSV
    np.testing.assert_array_equal(bench.column("myraspi_energy"), 2 * raspi4)
    assert "myraspi_latency_predicted" not in bench.metrics  # every arch has its latency
    assert bench.query(7, ["myraspi_latency"])["myraspi_latency"] == raspi4[7]


def test_a_partial_table_gets_a_cached_prediction(store, monkeypatch):
    pixel3 = get_cost_model("nb201", "cifar10").column("pixel3_latency")
    idx = np.random.default_rng(1).choice(SP.size, 40, replace=False)
    out = import_table("partial", _table(store / "p.csv", idx, pixel3[idx]), dataset="cifar100")
    assert out["predicted"] and get_device("partial").coverage == {"nb201": ("cifar100",)}
    bench = get_cost_model("nb201", "cifar100")
    values, estimated = bench.column_or_predicted("partial_latency")
    assert estimated.sum() == SP.size - 40 and np.isfinite(values).all()
    assert "not in the imported table (40 of 15,625" in bench.missing_reason(int(np.setdiff1d(np.arange(50), idx)[0]),
                                                                              "partial_latency")
    cache = next((store / "home" / "measurements").glob("imported-partial/nb201_cifar100.predicted.npz"))
    stamp = cache.stat().st_mtime_ns

    def refit(*a, **k):
        raise AssertionError("refitted although the table did not change")

    monkeypatch.setattr("archscout.hardware._predictors.get_predictor", refit)
    device = get_device("partial")
    again = _measured.nb201_columns(device, "cifar100")["partial_latency_predicted"]
    np.testing.assert_array_equal(again, bench.column("partial_latency_predicted"))
    assert cache.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    monkeypatch.setenv("ARCHSCOUT_HOME", str(store / "home"))
    cache.write_bytes(b"not an npz")  # a damaged cache is ignored and rewritten
    np.testing.assert_array_equal(_measured.nb201_columns(device, "cifar100")["partial_latency_predicted"], again)
    with np.load(cache, allow_pickle=False) as npz:
        assert npz["predicted"].shape == (SP.size,)


def test_reimport_is_idempotent_and_replacing_needs_asking(store):
    a = _table(store / "a.csv", [0, 1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0, 5.0])
    b = _table(store / "b.csv", [0, 1, 2, 3, 4], [5.0, 4.0, 3.0, 2.0, 1.0])
    assert import_table("dev1", a)["status"] == "imported"
    assert import_table("dev1", a)["status"] == "unchanged"
    one_line(ArchscoutError, lambda: import_table("dev1", b), "dev1", "--replace", "a.csv")
    assert import_table("dev1", b, replace=True)["status"] == "replaced"
    assert get_cost_model("nb201", "cifar10").column("dev1_latency")[0] == 5.0
    assert import_table("dev1", a, dataset="ImageNet16-120")["status"] == "imported"  # another dataset: added
    assert get_device("dev1").coverage == {"nb201": ("cifar10", "ImageNet16-120")}


@pytest.mark.parametrize("text,words", [
    ("", ["is empty", "arch", "latency_ms"]),
    ("arch,latency_ms\n", ["has no rows"]),
    ("arch,ms\n0,1.0\n", ["lacks column latency_ms", "has: arch, ms"]),
    ("arch,latency_ms\n0,fast\n", ["line 2", "'fast'", "not a number"]),
    ("arch,latency_ms\n0,1\n1,inf\n", ["line 3", "'inf'", "finite number > 0"]),
    ("arch,latency_ms\n0,0\n", ["line 2", "'0'", "> 0"]),
    ("arch,latency_ms\n0,-2.5\n", ["line 2", "'-2.5'"]),
    ("arch,latency_ms\n0,nan\n", ["line 2", "'nan'"]),
    ("arch,latency_ms\n0,\n", ["line 2", "''"]),
    ("arch,latency_ms\n15625,1\n", ["line 2", "15625", "0..15624"]),
    ("arch,latency_ms\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n", ["line 2", "conv"]),
    ("arch,latency_ms\n,1\n", ["line 2", "arch is empty"]),
    ("arch,latency_ms\n0,1\n1,2\n|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
     "skip_connect~2|,3\n", ["line 4", "NB201 index 0", "line 2"]),
    ("arch,latency_ms,energy\n0,1,lots\n", ["line 2", "energy", "'lots'"]),
    ("arch,latency_ms,ref_ms\n0,1,1\n", ["ref_ms", "measurement column"]),
    ("arch,latency_ms,latency_us\n0,1,1\n", ["latency_us", "rename"]),
    ("arch,latency_ms,bad col\n0,1,1\n", ["'bad col'"]),
    ("arch,latency_ms\n0,1\n1,2,5\n", ["line 3", "3 fields", "header has 2"]),
    ("arch,latency_ms\n\"0,1\n", ["not a readable CSV"]),
    ("arch,latency_ms,arch\n0,1,2\n", ["repeats a column"]),
])
def test_malformed_tables_are_one_line(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    one_line(ArchscoutError, lambda: read_latency_table(path), *words)


def test_a_binary_file_is_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"arch,latency_ms\n0,\xff\xfe\x00\n")
    one_line(ArchscoutError, lambda: read_latency_table(path), "not a readable CSV", "UTF-8")


def test_blank_lines_and_spaces_are_fine(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(" arch , latency_ms\n\n 3 , 1.5 \n\n7,2\n")
    df, sha = read_latency_table(path)
    assert df["nb201_index"].tolist() == [3, 7] and df["latency_ms"].tolist() == [1.5, 2.0] and len(sha) == 64


def test_bad_names_and_settings_are_one_line(store):
    good = _table(store / "g.csv", [0, 1], [1.0, 2.0])
    one_line(ArchscoutError, lambda: import_table("raspi4", good), "raspi4", "built-in")
    one_line(ArchscoutError, lambda: import_table("bad name!", good), "bad name!", "letters")
    one_line(UnknownNameError, lambda: import_table("x1", good, space="fbnet"), "fbnet", "nb201")
    one_line(UnknownNameError, lambda: import_table("x1", good, dataset="imagenet"), "imagenet", "cifar10")
    one_line(ArchscoutError, lambda: import_table("x1", store / "none.csv"), "none.csv", "does not exist")
    assert "x1" not in list_devices()


def test_a_table_without_ref_ms_is_not_drift_corrected():
    df = pd.DataFrame({"key": ["a", "b"], "latency_ms": [1.0, 2.0]})
    np.testing.assert_array_equal(drift_corrected(df), [1.0, 2.0])
    df["ref_ms"] = [2.0, 1.0]  # a measured table: each batch rescaled to the median reference
    np.testing.assert_allclose(drift_corrected(df), [0.75, 3.0])
