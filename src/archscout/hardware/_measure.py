"""On-device latency measurement: time real networks with PyTorch or ONNX Runtime on this machine's CPU.

``measure_latency`` times one network; ``device_fingerprint`` names the measuring set-up (CPU, threads,
batch size, back-end and versions) so that each set-up is its own device; ``MeasurementTable`` is a CSV
that grows row by row and resumes. ``_measured`` turns them into devices of the registry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import random
import statistics
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from archscout._threads import torch_threads
from archscout.exceptions import ArchscoutError, UnknownNameError

if TYPE_CHECKING:
    import torch
    from torch import nn

BACKENDS = ("torch", "onnxruntime")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UnknownNameError("backend", backend, BACKENDS)


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArchscoutError("the onnxruntime back-end needs onnxruntime: pip install onnxruntime") from None
    return ort


def _summary(repeats_s: list[list[float]]) -> dict[str, float]:
    ms = [[t * 1e3 for t in rep] for rep in repeats_s]
    flat = [t for rep in ms for t in rep]
    mean = statistics.fmean(flat)
    std = statistics.pstdev(flat) if len(flat) > 1 else 0.0
    within = [statistics.pstdev(rep) / statistics.fmean(rep) for rep in ms if len(rep) > 1]
    return {"latency_ms": min(flat), "median_ms": statistics.median(flat), "mean_ms": mean, "std_ms": std,
            "cv": std / mean if mean > 0 else float("nan"),
            "cv_runs": statistics.median(within) if within else float("nan"),
            "repeats": len(ms), "runs": len(ms[0])}


def time_interleaved(runners: list[Callable[[], Any]], *, warmup_s: float = 0.1, repeats: int = 40, runs: int = 10,
                     seed: int = 0) -> list[dict[str, float]]:
    """Time several networks together: ``repeats`` rounds over all of them in a shuffled order, in each
    round two untimed (when there are others to take the caches) and ``runs`` timed back-to-back runs of
    each network.

    Per network: ``latency_ms``, the fastest run (other processes and the machine's slow moments only
    ever add time, so the fastest is what repeats best; the rounds spread each network's runs over the
    whole measurement, so that no network is timed only at a slow moment); ``median_ms``, ``mean_ms``,
    ``std_ms`` and ``cv`` (std / mean) over all runs, which include the drift between rounds;
    ``cv_runs``, the median over repeats of the cv of back-to-back runs; ``repeats`` and ``runs``.
    """
    if repeats < 1 or runs < 1:
        raise ArchscoutError(f"repeats and runs must be >= 1, got {repeats} and {runs}")
    for run in runners:
        run()  # at least one warm-up call each
        end = time.perf_counter() + warmup_s
        while time.perf_counter() < end:
            run()
    times: list[list[list[float]]] = [[] for _ in runners]
    order = list(range(len(runners)))
    rng = random.Random(seed)
    for _ in range(repeats):
        rng.shuffle(order)
        for j in order:
            run, rep = runners[j], []
            if len(runners) > 1:  # untimed: the others have taken the caches (the first two calls run ~35
                run(), run()      # and ~15 % slower)
            for _ in range(runs):
                t0 = time.perf_counter()
                run()
                rep.append(time.perf_counter() - t0)
            times[j].append(rep)
    return [_summary(t) for t in times]


def _onnx_bytes(model: nn.Module, x: torch.Tensor) -> bytes:
    import torch

    buf = io.BytesIO()
    # the legacy TorchScript exporter is chosen on purpose (no onnxscript dependency, stable on small nets)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
    return buf.getvalue()


def make_runner(model: nn.Module, input_shape: Iterable[int], *, backend: str = "torch", threads: int = 1,
                batch_size: int = 1) -> Callable[[], Any]:
    """A no-argument callable running one forward pass of ``model`` (in eval mode) on a random
    ``(batch_size, *input_shape)`` input with ``backend``; for onnxruntime the model is exported here,
    so the call itself times only inference. Time torch runners under ``torch.set_num_threads(threads)``."""
    import torch

    _check_backend(backend)
    if threads < 1:
        raise ArchscoutError(f"threads must be >= 1, got {threads}")
    x = torch.randn((int(batch_size), *(int(s) for s in input_shape)))
    if backend == "torch":
        model = model.eval()

        def run() -> Any:
            with torch.inference_mode():
                return model(x)

        return run
    ort = _import_ort()
    was_training = model.training
    try:
        data = _onnx_bytes(model.eval(), x)
    finally:
        model.train(was_training)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    return lambda: sess.run(None, feed)


def measure_latency(model: nn.Module, input_shape: Iterable[int], *, backend: str = "torch", threads: int = 1,
                    batch_size: int = 1, warmup_s: float = 0.1, repeats: int = 40, runs: int = 10) -> dict[str, float]:
    """Latency of one forward pass of ``model`` on a ``(batch_size, *input_shape)`` random input, timed
    in ``repeats`` rounds of ``runs`` back-to-back runs; the fields of ``time_interleaved``."""

    was_training = model.training
    try:
        run = make_runner(model, input_shape, backend=backend, threads=threads, batch_size=batch_size)
        with torch_threads(threads if backend == "torch" else None):
            return time_interleaved([run], warmup_s=warmup_s, repeats=repeats, runs=runs)[0]
    finally:
        model.train(was_training)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _backend_version(backend: str) -> str:
    import torch

    if backend == "torch":
        return torch.__version__
    return _import_ort().__version__


def device_fingerprint(backend: str = "torch", threads: int = 1, batch_size: int = 1) -> dict[str, Any]:
    """What identifies a measuring set-up, plus ``fingerprint_id`` (10 hex chars of a sha1 of the rest)."""
    import torch

    _check_backend(backend)
    fp = {"cpu": _cpu_model(), "logical_cores": os.cpu_count() or 0, "machine": platform.machine(),
          "threads": int(threads), "batch_size": int(batch_size), "backend": backend,
          "backend_version": _backend_version(backend), "torch_version": torch.__version__}
    fp["fingerprint_id"] = hashlib.sha1(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:10]
    return fp


class MeasurementTable:
    """A CSV of measurements keyed by ``key`` (e.g. an arch string); every ``add`` is written at once."""

    COLUMNS = ["key", "latency_ms", "median_ms", "mean_ms", "std_ms", "cv", "cv_runs", "repeats", "runs", "ref_ms"]

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._keys: set[str] = set(self.load()["key"].astype(str)) if self.path.exists() else set()

    def load(self) -> pd.DataFrame:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return pd.DataFrame(columns=self.COLUMNS)
        return pd.read_csv(self.path, dtype={"key": str})

    def done(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` already measured."""
        return [k for k in keys if str(k) in self._keys]

    def __contains__(self, key: object) -> bool:
        return str(key) in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str, result: dict[str, Any]) -> None:
        row = {"key": str(key), **{c: result.get(c) for c in self.COLUMNS[1:]}}
        extra = {k: v for k, v in result.items() if k not in row}
        if extra:
            raise ArchscoutError(f"unexpected result fields {sorted(extra)}; expected {self.COLUMNS[1:]}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            pd.DataFrame([row], columns=self.COLUMNS).to_csv(f, header=header, index=False)
            f.flush()
            os.fsync(f.fileno())
        self._keys.add(str(key))


__all__ = ["BACKENDS", "MeasurementTable", "device_fingerprint", "make_runner", "measure_latency", "time_interleaved"]
