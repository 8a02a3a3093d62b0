"""Devices, metrics and the CostModel protocol: every source of cost answers the same way."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from archscout._registry import Registry
from archscout.exceptions import UnknownNameError
from archscout.spaces import Arch, get_space


@dataclass(frozen=True)
class MetricInfo:
    """One named metric: HW-NAS-Bench style name ``<device>_<quantity>``, unit and meaning."""

    name: str
    device: str
    quantity: str  # latency, energy, arithmetic_intensity, params, flops, accuracy ...
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Device:
    """A hardware target: what it is, how its numbers were obtained, where they come from."""

    name: str
    title: str
    kind: str  # "measured" on the device, "estimated" by a simulator/model, "computed" analytically
    toolchain: str
    source: str
    metrics: tuple[MetricInfo, ...]
    coverage: dict[str, tuple[str, ...]] = field(default_factory=dict)  # space -> datasets
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "kind": self.kind, "toolchain": self.toolchain,
            "source": self.source, "notes": self.notes,
            "coverage": {s: list(d) for s, d in self.coverage.items()},
            "metrics": [{"name": m.name, "quantity": m.quantity, "unit": m.unit,
                         "description": m.description} for m in self.metrics],
        }


DEVICES: Registry[Device] = Registry("device")


def register_device(device: Device) -> Device:
    DEVICES.add(device.name, device)
    return device


def _with_measured() -> Registry[Device]:
    """The registry, with the devices measured on this machine loaded (once) from their store."""
    from archscout.hardware._measured import ensure_loaded

    ensure_loaded()
    return DEVICES


def get_device(name: str) -> Device:
    return _with_measured().get(name)


def list_devices(pattern: str = "*") -> list[str]:
    return _with_measured().names(pattern)


class CostModel(abc.ABC):
    """Named metrics of architectures in one space and dataset.

    ``metrics`` lists what it answers; ``query`` is one arch, ``query_many`` is vectorized and
    returns a DataFrame indexed like its input. A missing value is NaN and ``missing_reason``
    says why; it is never replaced by a number.
    """

    space_name: str
    dataset: str

    @property
    @abc.abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """Names of the metrics, in output order."""

    @abc.abstractmethod
    def query_many(self, archs: Iterable[Any] | None = None,
                   metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """A DataFrame of metrics, one row per arch (all archs where the space is enumerable)."""

    def query(self, arch: Any, metrics: Sequence[str] | None = None) -> dict[str, float]:
        """Metrics of one architecture (an Arch, string, index or op list) as a dict."""
        row = self.query_many([arch], metrics)
        return {k: float(v) for k, v in row.iloc[0].items()}

    def missing_reason(self, arch: Any, metric: str) -> str | None:
        """Why a metric is NaN for this arch (None when it has a value)."""
        return None

    def _check_metrics(self, metrics: Sequence[str] | str | None) -> tuple[str, ...]:
        if metrics is None:
            return self.metrics
        if isinstance(metrics, str):
            metrics = (metrics,)
        for m in metrics:
            if m not in self.metrics:
                raise UnknownNameError(f"{self.space_name}/{self.dataset} metric", m, self.metrics)
        return tuple(metrics)

    def _parse(self, archs: Iterable[Any]) -> list[Arch]:
        space = get_space(self.space_name)
        return [space.parse(a) for a in archs]


_EXTRA_METRICS = {
    "params": MetricInfo("params", "", "params", "count", "trainable parameters of the built network"),
    "flops": MetricInfo("flops", "", "flops", "MMACs",
                        "multiply-accumulates of conv and linear layers, one image (PyTorch FlopCounterMode / 2)"),
    "train_acc": MetricInfo("train_acc", "", "accuracy", "%", "NB201 200-epoch training accuracy"),
    "valid_acc": MetricInfo("valid_acc", "", "accuracy", "%", "NB201 200-epoch validation accuracy"),
    "valid_error": MetricInfo("valid_error", "", "error", "%", "100 - valid_acc (minimized)"),
    "test_acc": MetricInfo("test_acc", "", "accuracy", "%", "NB201 200-epoch test accuracy"),
    "average_hw_metric": MetricInfo("average_hw_metric", "", "product", "mixed",
                                    "HW-NAS-Bench's 'average': the PRODUCT of the latency/energy metrics"),
    "geomean_hw_metric": MetricInfo("geomean_hw_metric", "", "geometric mean", "mixed",
                                    "geometric mean of the metrics in average_hw_metric"),
}


def metric_info(name: str) -> MetricInfo:
    """Information on any metric name (device metrics and the extras)."""
    if name in _EXTRA_METRICS:
        return _EXTRA_METRICS[name]
    for dev in _with_measured():
        for m in DEVICES.get(dev).metrics:
            if m.name == name:
                return m
    known = list(_EXTRA_METRICS) + [m.name for d in DEVICES for m in DEVICES.get(d).metrics]
    raise UnknownNameError("metric", name, known)


def resolve_metric(text: str) -> str:
    """``"latency@raspi4"`` -> ``"raspi4_latency"``; plain metric names pass through."""
    quantity, at, device = text.partition("@")
    if not at:
        return metric_info(text).name
    dev = get_device(device)
    names = [m.name for m in dev.metrics if m.quantity == quantity or m.name == f"{device}_{quantity}"]
    if not names:
        raise UnknownNameError(f"quantity on device {device!r}", quantity, sorted({m.quantity for m in dev.metrics}))
    return names[0]


def geomean(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Geometric mean across columns; 0 if any is 0, NaN if any is NaN (no log(0) warning)."""
    stacked = np.stack(columns)
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(stacked), axis=0))


def nan_product(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Left-to-right product (HW-NAS-Bench's order, so floats match exactly); NaN stays NaN."""
    out = np.ones_like(columns[0])
    for c in columns:
        out = out * c
    return out
