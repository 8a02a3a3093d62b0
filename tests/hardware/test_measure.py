import json
import math
import statistics

import numpy as np

import pytest
from torch import nn

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import _measured, get_cost_model, get_device, resolve_metric
from archscout.hardware._measure import MeasurementTable, device_fingerprint, measure_latency, time_interleaved
from archscout.hardware._measured import measure_archs
from archscout.spaces import get_space
from helpers import one_line

FAST = dict(warmup_s=0.01, repeats=3, runs=2)
FIELDS = {"latency_ms", "median_ms", "mean_ms", "std_ms", "cv", "cv_runs", "repeats", "runs"}
NET = dict(C=4, N=1, num_classes=10)


def _tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_measure_latency_backends(backend):
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    import torch

    before = torch.get_num_threads()
    model = _tiny().train()
    res = measure_latency(model, (3, 8, 8), backend=backend, threads=1, batch_size=2, **FAST)
    assert set(res) == FIELDS
    assert 0 < res["latency_ms"] <= res["median_ms"] and res["mean_ms"] > 0 and res["std_ms"] >= 0
    assert math.isfinite(res["cv"]) and math.isfinite(res["cv_runs"]) and (res["repeats"], res["runs"]) == (3, 2)
    assert torch.get_num_threads() == before and model.training


def test_nb201_onnx():
    pytest.importorskip("onnxruntime")
    sp = get_space("nb201")
    arch = sp.parse("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    model = sp.build(arch, **NET)
    res = measure_latency(model, (3, 8, 8), backend="onnxruntime", **FAST)
    assert res["median_ms"] > 0


def test_unknown_backend_one_line():
    one_line(UnknownNameError, lambda: measure_latency(_tiny(), (3, 8, 8), backend="tensorrt", **FAST),
             "tensorrt", "onnxruntime")
    with pytest.raises(UnknownNameError):
        device_fingerprint("nope")


def test_missing_onnxruntime(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ArchscoutError, match="pip install onnxruntime"):
        measure_latency(_tiny(), (3, 8, 8), backend="onnxruntime", **FAST)


def test_fingerprint():
    a, b = device_fingerprint("torch", 1, 1), device_fingerprint("torch", 2, 1)
    assert a["fingerprint_id"] != b["fingerprint_id"]
    assert a == device_fingerprint("torch", 1, 1)
    assert len(a["fingerprint_id"]) == 10 and a["cpu"] and a["logical_cores"] >= 1
    assert device_fingerprint("torch", 1, 4)["fingerprint_id"] != a["fingerprint_id"]


def test_time_interleaved_spreads_repeats_over_rounds():
    calls: list[int] = []
    runners = [lambda j=j: calls.append(j) for j in range(3)]
    res = time_interleaved(runners, warmup_s=0.0, repeats=4, runs=2, seed=1)
    timed = calls[3:]  # after one warm-up call each
    assert len(timed) == 3 * 4 * (2 + 2) and all(r["repeats"] == 4 and r["runs"] == 2 for r in res)
    rounds = [timed[k * 12:(k + 1) * 12] for k in range(4)]
    assert all(sorted(r) == [0] * 4 + [1] * 4 + [2] * 4 for r in rounds)  # each once per round: 2 untimed + 2 runs
    assert all(len(set(r[i:i + 4])) == 1 for r in rounds for i in (0, 4, 8))  # back to back
    assert len({tuple(r[::4]) for r in rounds}) > 1  # in shuffled orders
    calls.clear()
    time_interleaved(runners[:1], warmup_s=0.0, repeats=4, runs=2)
    assert len(calls) == 1 + 4 * 2  # alone, nothing takes its caches: no untimed calls between rounds
    with pytest.raises(ArchscoutError, match="repeats and runs"):
        time_interleaved(runners, repeats=0)


def test_fastest_run_is_the_latency():
    from archscout.hardware._measure import _summary

    res = _summary([[0.002, 0.001], [0.004, 0.003]])
    assert res["latency_ms"] == pytest.approx(1.0) and res["median_ms"] == pytest.approx(2.5)
    assert res["cv_runs"] == pytest.approx(statistics.median([0.5 / 1.5, 0.5 / 3.5]))


def test_table_roundtrip(tmp_path):
    t = MeasurementTable(tmp_path / "x.csv")
    assert len(t.load()) == 0 and t.done(["a"]) == []
    t.add("a", {"median_ms": 1.0, "mean_ms": 1.1, "std_ms": 0.1, "cv": 0.09, "repeats": 3})
    t2 = MeasurementTable(tmp_path / "x.csv")
    assert t2.done(["a", "b"]) == ["a"]
    t2.add("b", {"median_ms": 2.0, "mean_ms": 2.0, "std_ms": 0.0, "cv": 0.0, "repeats": 3})
    df = MeasurementTable(tmp_path / "x.csv").load()
    assert list(df["key"]) == ["a", "b"] and df["median_ms"].tolist() == [1.0, 2.0]


def test_measure_archs_resumes(tmp_path, monkeypatch):
    sp = get_space("nb201")
    archs = [sp.to_str(sp.sample(i)) for i in range(3)]
    calls = []
    real = _measured.make_runner

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_measured, "make_runner", counting)
    kw = dict(input_shape=(3, 8, 8), backend="torch", threads=1, root=tmp_path, net_cfg=NET, **FAST)
    seen = []
    df = measure_archs("nb201", archs[:2], progress=lambda i, n, key: seen.append((i, n)), **kw)
    n_unique = len(set(archs[:2]))
    assert len(df) == n_unique == len(calls) - 1  # + the reference arch
    assert seen[0] == (0, n_unique) and seen[-1] == (n_unique, n_unique)
    assert (df["latency_ms"] > 0).all() and (df["ref_ms"] > 0).all()
    calls.clear()
    df = measure_archs("nb201", archs[:2], **kw)
    assert calls == [] and len(df) == n_unique
    df = measure_archs("nb201", archs, **kw)
    assert len(calls) == len(set(archs)) - n_unique + 1 and len(df) == len(set(archs))
    # another thread count is another device: a separate folder and registry entry
    df2 = measure_archs("nb201", archs[:1], **{**kw, "threads": 2})
    assert len(df2) == 1
    folders = sorted(p.parent for p in tmp_path.glob("*/device.json"))
    assert len(folders) == 2
    names = {json.loads((f / "device.json").read_text())["name"] for f in folders}
    assert len(names) == 2 and all(get_device(n).kind == "measured" for n in names)
    # a custom network setting is refused on the standard table
    with pytest.raises(ArchscoutError, match="measured with"):
        measure_archs("nb201", archs[:1], **{**kw, "net_cfg": dict(NET, C=8)})


def test_interrupted_run_keeps_finished(tmp_path, monkeypatch):
    sp = get_space("nb201")
    archs = [sp.to_str(sp.sample(i)) for i in range(4)]
    kw = dict(input_shape=(3, 8, 8), backend="torch", root=tmp_path, net_cfg=NET, batch=2, **FAST)

    def stop(i, n, key):
        if i == 3:  # while the second batch is being saved
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure_archs("nb201", archs, progress=stop, **kw)
    assert len(MeasurementTable(next(tmp_path.glob("*/nb201_cifar10.csv")))) == 3
    calls = []
    real = _measured.make_runner
    monkeypatch.setattr(_measured, "make_runner", lambda *a, **k: calls.append(1) or real(*a, **k))
    df = measure_archs("nb201", archs, **kw)
    assert len(calls) == len(set(archs)) - 3 + 1 and len(df) == len(set(archs))  # + the reference


def test_fbnet_blocks_are_the_lookup_table():
    import torch

    from archscout.hardware._fbnet import lut_keys

    stem, layers, head = lut_keys("cifar100")
    blocks = _measured.fbnet_blocks("cifar100")
    assert set(blocks) == {stem, *(k for ks in layers for k in ks), *head} and len(blocks) == 112
    with torch.no_grad():
        for key, (module, shape) in blocks.items():
            assert module.eval()(torch.zeros(1, *shape)).shape[0] == 1, key


def test_measured_fbnet_lut_prices_every_arch(tmp_path, monkeypatch):
    df = _measured.measure_fbnet_lut("cifar100", backend="torch", root=tmp_path, name="lutcpu", **FAST)
    assert len(df) == 112 and (df["latency_ms"] > 0).all()
    dev = get_device("lutcpu")
    assert dev.coverage == {"fbnet": ("cifar100",)} and "112 lookup-table blocks" in dev.notes
    model = get_cost_model("fbnet", "cifar100")
    sp = get_space("fbnet")
    arch = sp.sample(np.random.default_rng(5))
    lut = _measured.fbnet_lut(dev, "cifar100")
    from archscout.hardware._fbnet import lut_keys
    stem, layers, head = lut_keys("cifar100")
    manual = lut[stem] + sum(lut[layers[i][op]] for i, op in enumerate(arch.ops)) + sum(lut[k] for k in head)
    assert model.query(arch, ["lutcpu_latency"])["lutcpu_latency"] == pytest.approx(manual)
    calls = []
    monkeypatch.setattr(_measured, "make_runner", lambda *a, **k: calls.append(1))
    _measured.measure_fbnet_lut("cifar100", backend="torch", root=tmp_path, **FAST)
    assert calls == []  # complete: nothing measured again


def test_measured_device_is_first_class(tmp_path):
    sp = get_space("nb201")
    archs = [sp.from_index(i) for i in range(12)]
    measure_archs("nb201", archs, input_shape=(3, 8, 8), backend="torch", root=tmp_path, net_cfg=NET,
                  name="tinycpu", **FAST)
    dev = get_device("tinycpu")
    assert dev.kind == "measured" and dev.coverage == {"nb201": ("cifar10",)}
    assert "12 archs" in dev.notes
    bench = get_cost_model("nb201", "cifar10")
    measured = bench.column("tinycpu_latency")
    assert np.isfinite(measured).sum() == 12 and np.isfinite(measured[:12]).all()
    assert np.isfinite(bench.column("tinycpu_latency_predicted")).all()  # additive LUT: >= 10 archs
    values, estimated = bench.column_or_predicted("tinycpu_latency")  # the budgets' rule
    assert (estimated == ~np.isfinite(measured)).all()
    np.testing.assert_array_equal(values[:12], measured[:12])
    np.testing.assert_array_equal(values[12:], bench.column("tinycpu_latency_predicted")[12:])
    assert "not measured" in bench.missing_reason(100, "tinycpu_latency")
    assert resolve_metric("latency@tinycpu") == "tinycpu_latency"
    with pytest.raises(ArchscoutError, match="already"):
        measure_archs("nb201", archs[:1], input_shape=(3, 8, 8), backend="torch", root=tmp_path, net_cfg=NET,
                      name="othername", **FAST)
    with pytest.raises(ArchscoutError, match="built-in"):
        measure_archs("nb201", archs[:1], input_shape=(3, 8, 8), backend="torch", threads=3, root=tmp_path,
                      net_cfg=NET, name="raspi4", **FAST)
    with pytest.raises(UnknownNameError):
        measure_archs("nb201", archs[:1], dataset="imagenet", root=tmp_path)
