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
import statistics
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

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


def _summary(times_s: list[float]) -> dict[str, float]:
    ms = [t * 1e3 for t in times_s]
    mean = statistics.fmean(ms)
    std = statistics.pstdev(ms) if len(ms) > 1 else 0.0
    return {"median_ms": statistics.median(ms), "mean_ms": mean, "std_ms": std,
            "cv": std / mean if mean > 0 else float("nan"), "repeats": len(ms)}


def _time(run: Callable[[], Any], warmup_s: float, repeats: int) -> dict[str, float]:
    run()  # at least one warm-up call
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return _summary(times)


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


def measure_latency(model: nn.Module, input_shape: Iterable[int], *, backend: str = "torch", threads: int = 1,
                    batch_size: int = 1, warmup_s: float = 0.2, repeats: int = 20) -> dict[str, float]:
    """Latency of one forward pass of ``model`` on a ``(batch_size, *input_shape)`` random input.

    Returns ``median_ms``, ``mean_ms``, ``std_ms``, ``cv`` (std / mean) and ``repeats``.
    """
    import torch

    _check_backend(backend)
    if repeats < 1:
        raise ArchscoutError(f"repeats must be >= 1, got {repeats}")
    if threads < 1:
        raise ArchscoutError(f"threads must be >= 1, got {threads}")
    shape = (int(batch_size), *(int(s) for s in input_shape))
    was_training = model.training
    model.eval()
    old_threads = torch.get_num_threads()
    try:
        x = torch.randn(shape)
        if backend == "torch":
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return _time(lambda: model(x), warmup_s, repeats)
        ort = _import_ort()
        data = _onnx_bytes(model, x)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        feed = {name: x.numpy()}
        return _time(lambda: sess.run(None, feed), warmup_s, repeats)
    finally:
        torch.set_num_threads(old_threads)
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

    COLUMNS = ["key", "median_ms", "mean_ms", "std_ms", "cv", "repeats"]

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


__all__ = ["BACKENDS", "MeasurementTable", "device_fingerprint", "measure_latency"]
