import shutil

import numpy as np

import pytest

from archscout.exceptions import DataIntegrityError, UnknownNameError
from archscout.hardware import get_cost_model, get_device, list_devices, metric_info, resolve_metric
from archscout.hardware import _tables
from archscout.hardware._nb201 import NB201Bench

HWNB = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")


@pytest.mark.parametrize("name", list_devices())
def test_device_entries_are_complete(name):
    dev = get_device(name)
    assert dev.title and dev.toolchain and dev.source and dev.metrics and dev.coverage
    assert dev.kind in ("measured", "estimated")
    for m in dev.metrics:
        assert m.name.startswith(f"{name}_") and m.unit in ("ms", "mJ", "ops/byte")
        assert metric_info(m.name) == m


def test_hwnasbench_devices():
    assert set(HWNB) <= set(list_devices())
    assert get_device("eyeriss").kind == "estimated" and get_device("fpga").kind == "estimated"
    assert get_device("edgegpu").kind == "measured"
    assert "fbnet" not in get_device("edgetpu").coverage
    assert "HELP" in get_device("1080ti").source


def test_metric_names():
    assert resolve_metric("latency@raspi4") == "raspi4_latency"
    assert resolve_metric("energy@edgegpu") == "edgegpu_energy"
    assert resolve_metric("params") == "params"
    with pytest.raises(UnknownNameError, match="unknown device 'rpi4'; choose from: raspi4"):
        get_device("rpi4")
    with pytest.raises(UnknownNameError, match="quantity on device 'raspi4'"):
        resolve_metric("energy@raspi4")


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    shutil.copytree(_tables.data_dir(), folder)
    monkeypatch.setenv("ARCHSCOUT_DATA_DIR", str(folder))
    _tables.clear_cache()
    yield folder
    monkeypatch.delenv("ARCHSCOUT_DATA_DIR")
    _tables.clear_cache()


def test_corrupted_table_is_detected(data_copy):
    target = data_copy / "nb201_hwnasbench.npz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DataIntegrityError, match="nb201_hwnasbench.npz is corrupted .sha256 mismatch.; reinstall"):
        NB201Bench("cifar10").query(0)


def test_missing_table_is_detected(data_copy):
    (data_copy / "fbnet_luts.json.gz").unlink()
    from archscout.hardware._fbnet import FBNetLUT

    with pytest.raises(DataIntegrityError, match="fbnet_luts.json.gz is missing"):
        FBNetLUT("cifar100").query([0] * 22)


def test_cached_models_are_shared():
    assert get_cost_model("nb201", "cifar10") is get_cost_model("nb201", "cifar10")


def test_a_data_folder_cannot_vouch_for_itself(data_copy):
    """A table changed together with a re-signed manifest beside it (the forged-folder attack) is refused:
    the checksums live in the code."""
    import hashlib
    import json

    target = data_copy / "nb201_hwnasbench.npz"
    arrays = dict(np.load(target))
    arrays = {k: (v * 2 if v.dtype.kind == "f" else v) for k, v in arrays.items()}
    np.savez_compressed(target, **arrays)
    manifest = {"sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in data_copy.iterdir()}}
    (data_copy / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(DataIntegrityError, match="nb201_hwnasbench.npz is corrupted"):
        NB201Bench("cifar10").query(0)
