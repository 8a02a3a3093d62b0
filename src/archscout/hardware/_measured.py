"""Devices measured on this machine or imported from a latency table: a store of tables that become
entries of the registry.

Layout: ``<root>/<fingerprint_id>/device.json`` (the set-up and its name) and one
``<space>_<dataset>.csv`` per measured setting, next to a ``.json`` with the network and input shape;
an imported device is ``<root>/imported-<name>/device.json`` (``"kind": "imported"``, each table's
source file and sha256) and its ``<space>_<dataset>.csv`` (``key``, ``latency_ms``, more metrics).
A partial NB201 table gets a predicted column for the other archs, stored next to the table as
``<space>_<dataset>.predicted.npz`` and keyed by the table's sha256, the predictor and its code.
The root is ``$ARCHSCOUT_HOME/measurements`` (default ``~/.archscout/measurements``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archscout._io import atomic_write, atomic_write_json
from archscout._threads import torch_threads
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware._base import DEVICES, Device, MetricInfo
from archscout.hardware._measure import MeasurementTable, _check_backend, device_fingerprint, make_runner, \
    time_interleaved

# the standard settings: input shape and network of the HW-NAS-Bench / NB201 conventions
SETTINGS: dict[tuple[str, str], tuple[tuple[int, ...], dict[str, Any]]] = {
    ("nb201", "cifar10"): ((3, 32, 32), {"C": 16, "N": 5, "num_classes": 10}),
    ("nb201", "cifar100"): ((3, 32, 32), {"C": 16, "N": 5, "num_classes": 100}),
    ("nb201", "ImageNet16-120"): ((3, 16, 16), {"C": 16, "N": 5, "num_classes": 120}),
    ("fbnet", "cifar100"): ((3, 32, 32), {"dataset": "cifar100"}),
    ("fbnet", "ImageNet"): ((3, 224, 224), {"dataset": "ImageNet"}),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_loaded: set[Path] = set()
_folders: dict[str, Path] = {}  # measured device name -> its folder
version = 0  # bumped whenever a measured device is (re)registered, so cached cost models refresh


def measurements_root(root: str | os.PathLike | None = None) -> Path:
    if root is not None:
        return Path(root)
    home = os.environ.get("ARCHSCOUT_HOME")
    return (Path(home) if home else Path.home() / ".archscout") / "measurements"


def _setting(space: str, dataset: str) -> tuple[tuple[int, ...], dict[str, Any]]:
    if (space, dataset) not in SETTINGS:
        raise UnknownNameError("space/dataset to measure", f"{space}/{dataset}", [f"{s}/{d}" for s, d in SETTINGS])
    return SETTINGS[(space, dataset)]


def _table_name(space: str, dataset: str, kind: str = "archs") -> str:
    """File stem of a device's table: ``nb201_cifar10`` (whole archs) or ``fbnet_cifar100_lut`` (blocks)."""
    return f"{space}_{dataset}" + ("_lut" if kind == "lut" else "")


def _tables(folder: Path) -> dict[tuple[str, str, str], Path]:
    """Measured tables by (space, dataset, kind): ``archs`` (whole networks) or ``lut`` (FBNet's blocks)."""
    out = {}
    for s, d in SETTINGS:
        for kind in ("archs", "lut"):
            path = folder / f"{_table_name(s, d, kind)}.csv"
            if path.exists():
                out[(s, d, kind)] = path
    return out


def _as_device(folder: Path, info: dict[str, Any]) -> Device:
    if info.get("kind") == "imported":
        return _as_imported_device(folder, info)
    name = info["name"]
    tables = _tables(folder)
    cover: dict[str, tuple[str, ...]] = {}
    for space, dataset, _ in tables:
        if dataset not in cover.get(space, ()):
            cover[space] = (*cover.get(space, ()), dataset)
    where = "; ".join(f"{s}/{d}: {len(MeasurementTable(p))} {'archs' if kind == 'archs' else 'lookup-table blocks'}"
                      for (s, d, kind), p in tables.items()) or "nothing yet"
    metrics = (MetricInfo(f"{name}_latency", name, "latency", "ms",
                          "latency measured on this machine: NB201, the measured archs (NaN elsewhere); FBNet, "
                          "the sum of the measured lookup table"),
               MetricInfo(f"{name}_latency_predicted", name, "latency_predicted", "ms",
                          "latency predicted for every NB201 arch from the measured ones (see hw predict)"))
    return Device(
        name, f"this machine: {info['cpu']}", "measured",
        f"archscout hw measure: {info['backend']} {info['backend_version']}, {info['threads']} thread(s), "
        f"batch {info['batch_size']}; the fastest of interleaved runs, in one process",
        f"measured here (fingerprint {info['fingerprint_id']}, {folder})", metrics, cover,
        f"measured: {where}")


def register_measured(folder: Path) -> Device:
    """(Re-)register the device stored in ``folder`` with what its tables hold now."""
    global version
    info = json.loads((folder / "device.json").read_text())
    device = _as_device(folder, info)
    if device.name in DEVICES and device.name not in _folders:
        raise ArchscoutError(f"measured device name {device.name!r} clashes with a built-in device; rename it in "
                             f"{folder / 'device.json'}")
    DEVICES.replace(device.name, device)
    _folders[device.name] = folder
    version += 1
    return device


def load_measured_devices(root: str | os.PathLike | None = None) -> list[str]:
    """Register every device measured under ``root`` (once per root and process); their names."""
    base = measurements_root(root).resolve()
    names = []
    if base.is_dir():
        for folder in sorted(p for p in base.iterdir() if (p / "device.json").exists()):
            try:
                names.append(register_measured(folder).name)
            except (OSError, ValueError, KeyError):
                continue  # a damaged folder must not break the registry; `hw devices` simply omits it
    _loaded.add(base)
    return names


def local_devices() -> list[str]:
    """Names of the devices measured on this machine (loading the store once)."""
    ensure_loaded()
    return list(_folders)


def ensure_loaded() -> None:
    if measurements_root().resolve() not in _loaded:
        load_measured_devices()


def device_folder(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of a measured device, by name."""
    base = measurements_root(root)
    if base.is_dir():
        for folder in base.iterdir():
            meta = folder / "device.json"
            if meta.exists() and json.loads(meta.read_text()).get("name") == name:
                return folder
    measured = [json.loads((f / "device.json").read_text())["name"] for f in base.glob("*") if
                (f / "device.json").exists()] if base.is_dir() else []
    raise UnknownNameError(f"measured device (under {base})", name, measured)


def measured_table(name: str, space: str, dataset: str, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """A measured device's table for one setting: one row per arch (``key``, its string) with the
    fields of ``time_interleaved`` and ``ref_ms``, the reference arch's latency in the same batch."""
    _setting(space, dataset)
    path = device_folder(name, root) / f"{_table_name(space, dataset)}.csv"
    if not path.exists():
        raise ArchscoutError(f"device {name!r} has no {space}/{dataset} measurements; "
                             f"run: archscout hw measure --space {space} --dataset {dataset}")
    return MeasurementTable(path).load()


def _open_device(fp: dict[str, Any], root: Path, name: str | None) -> tuple[Path, dict[str, Any]]:
    folder = root / fp["fingerprint_id"]
    meta = folder / "device.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        if name and name != info["name"]:
            raise ArchscoutError(f"this set-up is already measured as {info['name']!r}; use --name {info['name']} "
                                 f"(or no --name) to add to it")
        return folder, info
    name = name or f"local-{fp['fingerprint_id'][:6]}"
    if not _NAME.match(name):
        raise ArchscoutError(f"device name {name!r}: use 1-40 letters, digits, '-', '_' or '.'")
    if name in DEVICES and name not in _folders:
        raise ArchscoutError(f"device name {name!r} is a built-in device; choose another --name")
    for other in root.glob("*/device.json") if root.is_dir() else []:
        if json.loads(other.read_text()).get("name") == name:
            raise ArchscoutError(f"device name {name!r} is already another set-up ({other.parent}); "
                                 f"choose another --name")
    folder.mkdir(parents=True, exist_ok=True)
    info = {**fp, "name": name}
    atomic_write_json(meta, info, sort_keys=True)
    return folder, info


def _open_table(stem: str, setting: dict[str, Any], *, backend: str, threads: int, batch_size: int,
                root: str | os.PathLike | None, name: str | None) -> tuple[MeasurementTable, Path, dict[str, Any]]:
    """This set-up's table ``stem`` (created, or checked to hold ``setting``), its device folder, and the
    attributes of what it returns (device name, fingerprint)."""
    fp = device_fingerprint(backend, threads, batch_size)
    folder, info = _open_device(fp, measurements_root(root), name)
    _check_table_setting(folder / f"{stem}.json", setting)
    return MeasurementTable(folder / f"{stem}.csv"), folder, {"device": info["name"], "fingerprint": fp}


def _check_table_setting(path: Path, setting: dict[str, Any]) -> None:
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != setting:
            raise ArchscoutError(f"{path.with_suffix('.csv')} was measured with {stored}, not {setting}; "
                                 f"use another measurement root for a custom setting")
    else:
        atomic_write_json(path, setting, sort_keys=True)


@contextmanager
def quiet_cpu(pin_cpu: int | None = None, realtime: bool = False):
    """Pin this process to one CPU and/or give it real-time (FIFO) priority for the duration, so that
    other work on the machine perturbs the timings less; both are restored afterwards (Linux only)."""
    old_aff = os.sched_getaffinity(0) if pin_cpu is not None else None
    old_sched = (os.sched_getscheduler(0), os.sched_getparam(0)) if realtime else None
    try:
        if pin_cpu is not None:
            if pin_cpu not in old_aff:
                raise ArchscoutError(f"--pin-cpu {pin_cpu}: this process may run on CPUs {sorted(old_aff)}")
            os.sched_setaffinity(0, {pin_cpu})
        if realtime:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
            except PermissionError:
                raise ArchscoutError("--realtime needs root or CAP_SYS_NICE (or run under: chrt -f 50 ...)") from None
        yield
    finally:
        if old_sched is not None:
            os.sched_setscheduler(0, *old_sched)
        if old_aff is not None:
            os.sched_setaffinity(0, old_aff)


def _measure_into(table: MeasurementTable, todo: list[str], runner: Callable[[str], Callable[[], Any]],
                  reference: str, *, folder: Path, attrs: dict[str, Any], backend: str, threads: int, batch: int,
                  warmup_s: float, repeats: int, runs: int, pin_cpu: int | None, realtime: bool,
                  progress: Callable[[int, int, str], Any] | None) -> pd.DataFrame:
    """Measure the keys ``todo`` into ``table``, ``batch`` at a time, interleaved with ``reference``;
    then (even when interrupted) re-register the device of ``folder``. The whole table, with ``attrs``."""

    if batch < 1:
        raise ArchscoutError(f"batch must be >= 1, got {batch}")
    try:
        if todo and progress is not None:
            progress(0, len(todo), "")
        ref = runner(reference) if todo else None
        for start in range(0, len(todo), batch):
            keys = todo[start:start + batch]
            runners = [runner(k) for k in keys]  # exports run unpinned: pinned, they are ~10x slower
            with quiet_cpu(pin_cpu, realtime), torch_threads(threads if backend == "torch" else None):
                *results, ref_result = time_interleaved([*runners, ref], warmup_s=warmup_s, repeats=repeats,
                                                        runs=runs, seed=start)
            for i, (key, result) in enumerate(zip(keys, results), start + 1):
                table.add(key, {**result, "ref_ms": ref_result["latency_ms"]})
                if progress is not None:
                    progress(i, len(todo), key)
    finally:
        register_measured(folder)
    df = table.load()
    df.attrs.update(attrs, table=str(table.path))
    return df


def measure_archs(space: str, archs: Iterable[Any], *, dataset: str = "cifar10", backend: str = "onnxruntime",
                  threads: int = 1, batch_size: int = 1, name: str | None = None,
                  root: str | os.PathLike | None = None, warmup_s: float = 0.1, repeats: int = 40, runs: int = 10,
                  batch: int = 100, pin_cpu: int | None = None, realtime: bool = False,
                  input_shape: Iterable[int] | None = None, net_cfg: dict[str, Any] | None = None,
                  progress: Callable[[int, int, str], Any] | None = None) -> pd.DataFrame:
    """Measure each arch of ``space`` not yet in this set-up's table; return the whole table
    (``attrs``: the device name, its fingerprint and the table's path).

    Archs are measured ``batch`` at a time, interleaved (``time_interleaved``: ``repeats`` shuffled
    rounds of ``runs`` runs; the latency is the fastest run), together with a fixed reference arch
    whose latency in the same rounds is stored as ``ref_ms``, so that drift between batches shows.
    Each finished batch is written at once: re-running skips what is measured, so an interruption
    loses at most the batch at hand. The set-up (CPU, threads, batch size, back-end, versions) is a
    device of the registry, named ``name`` (default ``local-<fingerprint>``). ``progress(i, n, key)``
    is called per new arch written, and with ``i = 0`` once before the first. ``input_shape`` and
    ``net_cfg`` override the standard setting of (space, dataset), e.g. for tiny tests; ``pin_cpu``
    and ``realtime``: see ``quiet_cpu`` (they apply to the timing only).
    """
    from archscout.spaces import get_space

    _check_backend(backend)
    shape, cfg = _setting(space, dataset)
    shape = tuple(int(s) for s in (input_shape or shape))
    cfg = dict(net_cfg or cfg)
    if space == "fbnet":
        cfg.setdefault("dataset", dataset)
    sp = get_space(space)
    parsed = [sp.parse(a) for a in archs]  # bad archs fail before anything is measured
    reference = sp.to_str(sp.sample(np.random.default_rng(0)))
    table, folder, attrs = _open_table(
        _table_name(space, dataset), {"input_shape": list(shape), "net_cfg": cfg, "warmup_s": warmup_s,
                                      "repeats": repeats, "runs": runs, "reference": reference},
        backend=backend, threads=threads, batch_size=batch_size, root=root, name=name)
    todo = list(dict.fromkeys(k for k in (sp.to_str(a) for a in parsed) if k not in table))

    def runner(key: str) -> Callable[[], Any]:
        return make_runner(sp.build(sp.from_str(key), **cfg), shape, backend=backend, threads=threads,
                           batch_size=batch_size)

    return _measure_into(table, todo, runner, reference, folder=folder, attrs=attrs,
                         backend=backend, threads=threads, batch=batch, warmup_s=warmup_s, repeats=repeats,
                         runs=runs, pin_cpu=pin_cpu, realtime=realtime, progress=progress)


def fbnet_blocks(dataset: str) -> dict[str, tuple[Any, tuple[int, ...]]]:
    """Every distinct entry of HW-NAS-Bench's FBNet lookup table for ``dataset`` (same keys): the
    module it costs and its input shape. Stem and head in the order the table sums them."""
    from torch import nn

    from archscout.hardware._fbnet import lut_keys
    from archscout.nn._fbnet import conv_bn_relu, fbnet_op
    from archscout.spaces._fbnet import fbnet_config, fbnet_layers

    cfg, layers = fbnet_config(dataset), fbnet_layers(dataset)
    stem, layer_keys, head = lut_keys(dataset)
    blocks = {stem: (conv_bn_relu(3, cfg.stem_channels, 3, cfg.stem_stride), (3, cfg.input_size, cfg.input_size))}
    for spec, keys in zip(layers, layer_keys):
        for op, key in enumerate(keys):
            if key not in blocks:
                blocks[key] = (fbnet_op(op, spec.c_in, spec.c_out, spec.stride), (spec.c_in, spec.h, spec.h))
    h, hc = layers[-1].h // layers[-1].stride, cfg.header_channels
    blocks[head[0]] = (conv_bn_relu(cfg.stage_channels[-1], hc, 1, 1), (cfg.stage_channels[-1], h, h))
    blocks[head[1]] = (nn.AdaptiveAvgPool2d(1), (hc, h, h))
    blocks[head[2]] = (nn.Linear(hc, cfg.num_classes), (hc,))
    return blocks


def measure_fbnet_lut(dataset: str = "cifar100", *, backend: str = "onnxruntime", threads: int = 1,
                      batch_size: int = 1, name: str | None = None, root: str | os.PathLike | None = None,
                      warmup_s: float = 0.1, repeats: int = 40, runs: int = 10, batch: int = 200,
                      pin_cpu: int | None = None, realtime: bool = False,
                      progress: Callable[[int, int, str], Any] | None = None) -> pd.DataFrame:
    """Measure FBNet's lookup table on this machine, as HW-NAS-Bench built it for its devices: each
    distinct block once (``fbnet_blocks``, 108 + stem and head); then every one of the 9^22 archs
    has a latency on this device, the sum over its blocks (``FBNetLUT``). Resumes like ``measure_archs``."""
    _check_backend(backend)
    _setting("fbnet", dataset)
    blocks = fbnet_blocks(dataset)
    reference = next(iter(blocks))  # the stem
    table, folder, attrs = _open_table(
        _table_name("fbnet", dataset, "lut"), {"warmup_s": warmup_s, "repeats": repeats, "runs": runs,
                                               "reference": reference},
        backend=backend, threads=threads, batch_size=batch_size, root=root, name=name)
    todo = [k for k in blocks if k not in table]

    def runner(key: str) -> Callable[[], Any]:
        module, shape = blocks[key]
        return make_runner(module, shape, backend=backend, threads=threads, batch_size=batch_size)

    return _measure_into(table, todo, runner, reference, folder=folder, attrs=attrs,
                         backend=backend, threads=threads, batch=batch, warmup_s=warmup_s, repeats=repeats,
                         runs=runs, pin_cpu=pin_cpu, realtime=realtime, progress=progress)


def fbnet_lut(device: Device, dataset: str) -> dict[str, float] | None:
    """A measured device's FBNet lookup table (key -> drift-corrected ms), if it is complete."""
    if device.name not in _folders:
        return None
    path = _folders[device.name] / f"{_table_name('fbnet', dataset, 'lut')}.csv"
    if not path.exists():
        return None
    from archscout.hardware._fbnet import lut_keys

    df = MeasurementTable(path).load()
    lut = dict(zip(df["key"], drift_corrected(df)))
    stem, layers, head = lut_keys(dataset)
    return lut if {stem, *(k for ks in layers for k in ks), *head} <= set(lut) else None


def drift_corrected(table: pd.DataFrame) -> np.ndarray:
    """Each arch's ``latency_ms`` rescaled by the reference arch's latency in its batch against its
    median over batches, so that a batch measured while the machine ran slower is not slower.
    ``ref_ms`` is a measurement column: rows without it (an imported table) stay as they are."""
    latency = table["latency_ms"].to_numpy(float)
    ref = table["ref_ms"].to_numpy(float) if "ref_ms" in table else np.full(len(latency), np.nan)
    ok = np.isfinite(ref) & (ref > 0)
    if not ok.any():
        return latency
    return latency * np.where(ok, np.median(ref[ok]) / np.where(ok, ref, 1.0), 1.0)


def nb201_columns(device: Device, dataset: str) -> dict[str, np.ndarray]:
    """NB201 columns of a measured or imported device: its latencies (measured ones drift-corrected;
    NaN for the archs its table lacks), an imported table's other metrics, and, when the table lacks
    some archs, a prediction for all archs (cached: see ``predicted_column``)."""
    from archscout.spaces import get_space

    if device.name not in _folders or dataset not in device.coverage.get("nb201", ()):
        return {}
    sp = get_space("nb201")
    path = _folders[device.name] / f"{_table_name('nb201', dataset)}.csv"
    raw = path.read_bytes()
    if not raw.strip():
        return {}  # created, nothing written yet
    df = pd.read_csv(io.BytesIO(raw), dtype={"key": str})
    if "nb201_index" in df:  # an imported table stores the index (parsing 15,625 strings takes 0.2 s)
        idx = df["nb201_index"].to_numpy(np.int64)
        if len(idx) and not (0 <= idx.min() and idx.max() < sp.size):
            raise ArchscoutError(f"{path}: nb201_index out of range; re-import the table")
    else:
        idx = sp.indices(list(df["key"]))
    measured = np.full(sp.size, np.nan)
    measured[idx] = drift_corrected(df)
    cols = {f"{device.name}_latency": measured}
    for column, metric in _extra_metrics(device, dataset).items():
        values = np.full(sp.size, np.nan)
        values[idx] = pd.to_numeric(df[column], errors="coerce").to_numpy(float)
        cols[metric] = values
    if device.kind == "imported" and len(df) == sp.size:
        return cols  # every arch has its latency: nothing to predict
    predicted = predicted_column(path, raw, measured)
    if predicted is not None:
        cols[f"{device.name}_latency_predicted"] = predicted
    return cols


PREDICTED_WITH = ("stacked", "additive")  # the first that fits the table's archs predicts the others


def _code_version() -> str:
    """What the cached predictions depend on besides the table: the predictors' source and versions."""
    from importlib.metadata import PackageNotFoundError, version

    from archscout.hardware import _predictors

    try:
        sklearn = version("scikit-learn")
    except PackageNotFoundError:
        sklearn = "absent"
    digest = hashlib.sha256(Path(_predictors.__file__).read_bytes()).hexdigest()[:16]
    return f"{digest}/numpy {np.__version__}/scikit-learn {sklearn}"


def predicted_column(path: Path, raw: bytes, values: np.ndarray) -> np.ndarray | None:
    """A prediction for every NB201 arch from those with a value, by the first of ``PREDICTED_WITH``
    that fits them; read from ``<table>.predicted.npz`` when it was fitted on the same table (sha256)
    with the same code, else fitted and stored there. NB201 is enumerable, so the 15,625 predictions
    ARE the fitted predictor; a cache file that is unreadable or stale is ignored and rewritten. None
    when too few archs have a value."""
    from archscout.hardware._predictors import get_predictor
    from archscout.spaces import get_space

    key = f"{hashlib.sha256(raw).hexdigest()}:{'/'.join(PREDICTED_WITH)}:{_code_version()}"
    cache = path.with_suffix(".predicted.npz")
    try:
        with np.load(cache, allow_pickle=False) as npz:
            if str(npz["key"]) == key and npz["predicted"].shape == values.shape:
                return npz["predicted"].astype(float)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # absent or damaged: fit again
    ops = get_space("nb201").ops_table.astype(np.int64)
    ok = np.flatnonzero(np.isfinite(values))
    for name in PREDICTED_WITH:
        try:
            model = get_predictor(name).fit(ops[ok], values[ok])
        except ArchscoutError:  # too few archs with a value for this predictor
            continue
        predicted = np.asarray(model.predict(ops), dtype=float)
        buf = io.BytesIO()
        np.savez(buf, key=np.array(key), predicted=predicted)
        try:
            atomic_write(cache, buf.getvalue())
        except OSError:
            pass  # a read-only store still answers; it fits again next time
        return predicted
    return None


# -- devices imported from a latency table --------------------------------------------------------
IMPORT_SPACES = ("nb201",)
_UNITS = {"ms": "ms", "us": "us", "s": "s", "mj": "mJ", "j": "J", "mw": "mW", "w": "W", "mb": "MB", "kb": "kB"}
_COLUMN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_MISSING = {"", "nan", "NaN", "NA", "N/A", "null"}
_RESERVED = {"key": "the store's arch column", "nb201_index": "the store's index column",
             "ref_ms": "a measurement column of archscout hw measure (the reference arch's latency)"}


def _extra_metric(column: str) -> tuple[str, str]:
    """An extra column's quantity and unit: ``energy_mJ`` -> (``energy``, ``mJ``); ``ratio`` -> (``ratio``, "")."""
    stem, _, suffix = column.rpartition("_")
    if stem and suffix.lower() in _UNITS:
        return stem, _UNITS[suffix.lower()]
    return column, ""


def _extra_metrics(device: Device, dataset: str) -> dict[str, str]:
    """An imported device's extra columns of its NB201 ``dataset`` table -> their metric names."""
    if device.kind != "imported":
        return {}
    info = json.loads((_folders[device.name] / "device.json").read_text())
    table = info["tables"].get(_table_name("nb201", dataset), {})
    return {c: f"{device.name}_{_extra_metric(c)[0]}" for c in table.get("extra_columns", [])}


def _can_predict(archs: int) -> bool:
    """Whether a table of ``archs`` archs is enough for some predictor of ``PREDICTED_WITH``."""
    from archscout.hardware._predictors import PREDICTORS

    return archs >= min(PREDICTORS[name].min_train for name in PREDICTED_WITH)


def _as_imported_device(folder: Path, info: dict[str, Any]) -> Device:
    name = info["name"]
    tables = {stem: info["tables"][stem] for stem in (_table_name(s, d) for s, d in SETTINGS) if stem in info["tables"]}
    cover: dict[str, tuple[str, ...]] = {}
    for t in tables.values():
        cover[t["space"]] = (*cover.get(t["space"], ()), t["dataset"])
    metrics = [MetricInfo(f"{name}_latency", name, "latency", "ms",
                          "latency from the imported table (NaN for the archs it lacks)")]
    if any(_can_predict(t["archs"]) and t["archs"] < 15625 for t in tables.values()):
        metrics.append(MetricInfo(f"{name}_latency_predicted", name, "latency_predicted", "ms",
                                  "latency predicted for every NB201 arch from the imported ones"))
    for column in dict.fromkeys(c for t in tables.values() for c in t.get("extra_columns", [])):
        quantity, unit = _extra_metric(column)
        metrics.append(MetricInfo(f"{name}_{quantity}", name, quantity, unit, f"column {column!r} of the imported table"))
    sources = "; ".join(f"{t['space']}/{t['dataset']}: {t['source']} (sha256 {t['sha256'][:12]})"
                        for t in tables.values())
    where = "; ".join(f"{t['space']}/{t['dataset']}: {t['archs']:,} archs" for t in tables.values())
    return Device(name, info.get("title") or f"imported: {name}", "imported",
                  "archscout hw import: a latency table (how it was measured is not recorded)",
                  f"imported from {sources}", tuple(metrics), cover, f"imported: {where}; folder {folder}")


def read_latency_table(path: str | os.PathLike, space: str = "nb201") -> tuple[pd.DataFrame, str]:
    """A latency table checked row by row: ``key`` (the canonical arch string, from column ``arch``: an
    NB201 index or arch string), ``latency_ms`` and any other numeric columns; and the file's sha256.
    Anything wrong is a one-line ``ArchscoutError`` naming the line and value."""
    from archscout.spaces import get_space

    if space not in IMPORT_SPACES:
        raise UnknownNameError("space to import", space, IMPORT_SPACES)
    where = f"table {path}"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ArchscoutError(f"{where} does not exist") from None
    except OSError as exc:
        raise ArchscoutError(f"cannot read {where}: {exc.strerror or type(exc).__name__}") from None
    need = "columns arch (an NB201 index or arch string) and latency_ms (more numeric columns optional)"
    if not raw.strip():
        raise ArchscoutError(f"{where} is empty; it needs {need}")
    try:
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), strict=True)
        header = [c.strip() for c in next(reader)]
        rows, lines = [], []
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # a blank line
            if len(row) != len(header):
                raise ArchscoutError(f"{where} line {reader.line_num}: {len(row)} fields, the header has "
                                     f"{len(header)} ({', '.join(header)})")
            rows.append([field.strip() for field in row])
            lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ArchscoutError(f"{where} is not a readable CSV (UTF-8 text): {str(exc).splitlines()[0]}") from None
    missing = [c for c in ("arch", "latency_ms") if c not in header]
    if missing:
        raise ArchscoutError(f"{where} lacks column {' and '.join(missing)}; it needs {need}; it has: "
                             f"{', '.join(header)}")
    if len(header) != len(set(header)):
        raise ArchscoutError(f"{where} repeats a column name: {', '.join(header)}")
    if not rows:
        raise ArchscoutError(f"{where} has no rows; it needs one row per arch with {need}")
    df = pd.DataFrame(rows, columns=header, dtype=str)
    sp = get_space(space)
    keys, latency, seen = [], [], {}  # seen: NB201 index -> line
    for line, arch, text in zip(lines, df["arch"], df["latency_ms"]):
        if not arch:
            raise ArchscoutError(f"{where} line {line}: arch is empty; give an NB201 index (0..{sp.size - 1}) "
                                 "or arch string")
        try:
            parsed = sp.parse(arch)
        except ArchscoutError as exc:
            raise ArchscoutError(f"{where} line {line}: {exc}") from None
        index = sp.index(parsed)
        if index in seen:
            raise ArchscoutError(f"{where} line {line}: arch {arch!r} (NB201 index {index}) is already on line "
                                 f"{seen[index]}; give one latency per arch")
        seen[index] = line
        try:
            value = float(text)
        except ValueError:
            raise ArchscoutError(f"{where} line {line}: latency_ms {text!r} is not a number; "
                                 "give milliseconds > 0") from None
        if not (math.isfinite(value) and value > 0):
            raise ArchscoutError(f"{where} line {line}: latency_ms {text!r} must be a finite number > 0 "
                                 "(milliseconds)")
        keys.append(sp.to_str(parsed))
        latency.append(value)
    out = pd.DataFrame({"key": keys, "nb201_index": list(seen), "latency_ms": latency})
    quantities = {"latency": "latency_ms", "latency_predicted": "(the predicted latency)"}
    for column in (c for c in df.columns if c not in ("arch", "latency_ms")):
        if column in _RESERVED:
            raise ArchscoutError(f"{where}: column {column!r} is {_RESERVED[column]}; drop or rename it")
        if not _COLUMN.match(column):
            raise ArchscoutError(f"{where}: column name {column!r}: use 1-40 letters, digits or '_', "
                                 "starting with a letter")
        quantity = _extra_metric(column)[0]
        if quantity in quantities:
            raise ArchscoutError(f"{where}: column {column!r} would be the metric of {quantities[quantity]!r}; "
                                 "rename it")
        quantities[quantity] = column
        values = []
        for line, text in zip(lines, df[column]):
            try:
                value = math.nan if text in _MISSING else float(text)
            except ValueError:
                raise ArchscoutError(f"{where} line {line}: {column} {text!r} is not a number (leave it empty "
                                     "when unknown)") from None
            if math.isinf(value):
                raise ArchscoutError(f"{where} line {line}: {column} {text!r} must be finite")
            values.append(value)
        out[column] = values
    return out, hashlib.sha256(raw).hexdigest()


def import_table(name: str, path: str | os.PathLike, *, space: str = "nb201", dataset: str = "cifar10",
                 replace: bool = False, title: str | None = None,
                 root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Register the latency table at ``path`` (see ``read_latency_table``) as device ``name``'s
    ``space``/``dataset`` table, kept in the store with its source and sha256. Importing the same file
    again changes nothing; another file for a table the device has needs ``replace``. When the table
    lacks some archs, their prediction is fitted here and cached. A summary (``status``: imported,
    replaced or unchanged)."""
    if space not in IMPORT_SPACES:
        raise UnknownNameError("space to import", space, IMPORT_SPACES)
    datasets = [d for s, d in SETTINGS if s == space]
    if dataset not in datasets:
        raise UnknownNameError(f"{space} dataset", dataset, datasets)
    if not _NAME.match(name):
        raise ArchscoutError(f"device name {name!r}: use 1-40 letters, digits, '-', '_' or '.', starting with a "
                             "letter or digit")
    base = measurements_root(root)
    if base.resolve() not in _loaded:
        load_measured_devices(base)
    folder = base / f"imported-{name}"
    if name in DEVICES and name not in _folders:
        raise ArchscoutError(f"device name {name!r} is a built-in device; choose another name")
    for other in base.glob("*/device.json") if base.is_dir() else []:
        if other.parent != folder and json.loads(other.read_text()).get("name") == name:
            raise ArchscoutError(f"device name {name!r} is a device measured here ({other.parent}); choose another "
                                 "name")
    table, sha = read_latency_table(path, space)
    stem = _table_name(space, dataset)
    meta = folder / "device.json"
    info = json.loads(meta.read_text()) if meta.exists() else {"name": name, "kind": "imported", "tables": {}}
    old = info["tables"].get(stem)
    source = str(Path(path).resolve())
    status = "imported"
    if old is not None:
        if old["sha256"] == sha and (folder / f"{stem}.csv").exists():
            status = "unchanged"
        elif not replace:
            raise ArchscoutError(f"device {name!r} already has a {space}/{dataset} table (from {old['source']}, "
                                 f"sha256 {old['sha256'][:12]}); add --replace to replace it with {path}")
        else:
            status = "replaced"
    if status != "unchanged":
        extra = [c for c in table.columns if c not in ("key", "nb201_index", "latency_ms")]
        atomic_write(folder / f"{stem}.csv", table.to_csv(index=False))
        info["tables"][stem] = {"space": space, "dataset": dataset, "source": source, "sha256": sha,
                                "archs": len(table), "extra_columns": extra}
    if title is not None:
        info["title"] = title
    atomic_write_json(meta, info, sort_keys=True)
    device = register_measured(folder)
    predicted = None
    if space == "nb201" and len(table) < 15625:
        predicted = nb201_columns(device, dataset).get(f"{name}_latency_predicted") is not None
    return {"device": name, "status": status, "space": space, "dataset": dataset, "archs": len(table),
            "source": source, "sha256": sha, "folder": str(folder), "predicted": predicted,
            "metrics": [m.name for m in device.metrics]}


__all__ = ["SETTINGS", "device_folder", "drift_corrected", "fbnet_blocks", "fbnet_lut", "import_table",
           "load_measured_devices", "measure_archs", "measure_fbnet_lut", "measured_table", "measurements_root",
           "nb201_columns", "predicted_column", "read_latency_table"]
