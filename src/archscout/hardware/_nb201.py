"""NB201 cost tables: HW-NAS-Bench's 10 metrics, HELP devices, params/MACs, 200-epoch accuracies."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from archscout.exceptions import UnknownNameError
from archscout.hardware._base import CostModel, geomean, get_device, nan_product
from archscout.hardware._counting import nb201_params_macs
from archscout.hardware._devices import HELP_DUPLICATES, NB201_DATASETS, help_metric_name, help_sort_key
from archscout.hardware._measured import local_devices, nb201_columns
from archscout.hardware._tables import load_arrays
from archscout.spaces import get_space

HWNB_NB201_METRICS = (
    "edgegpu_latency", "edgegpu_energy", "raspi4_latency", "edgetpu_latency", "pixel3_latency",
    "eyeriss_latency", "eyeriss_energy", "eyeriss_arithmetic_intensity", "fpga_latency", "fpga_energy",
)
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT_SIZE = {"cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}
ACCURACY_SETTING = {
    "cifar10": "NB201 'cifar10-valid': trained on 25k train images, valid = 25k held-out train images, "
               "test = CIFAR-10 test set",
    "cifar100": "NB201 cifar100: valid / test = the two halves of the CIFAR-100 test set",
    "ImageNet16-120": "NB201 ImageNet16-120: valid / test = the two halves of its test set",
}
EDGETPU_MISSING = ("no Edge TPU measurement in HW-NAS-Bench for this architecture (the source stores -1; "
                   "4,699 of 15,625 archs, nearly all with a 'none' op)")


class NB201Bench(CostModel):
    """Everything known about the 15,625 NB201 archs on one dataset, as aligned columns.

    Example:
        >>> bench = NB201Bench("cifar10")
        >>> bench.query(0)["edgegpu_latency"]
        5.807418537139893
    """

    space_name = "nb201"

    def __init__(self, dataset: str = "cifar10"):
        if dataset not in NB201_DATASETS:
            raise UnknownNameError("nb201 dataset", dataset, NB201_DATASETS)
        self.dataset = dataset
        self.space = get_space("nb201")

    @cached_property
    def _columns(self) -> dict[str, np.ndarray]:
        hw = load_arrays("nb201_hwnasbench.npz")
        cols: dict[str, np.ndarray] = {}
        for m in HWNB_NB201_METRICS:
            v = hw[f"{self.dataset}/{m}"]
            cols[m] = np.where(v < 0, np.nan, v)  # -1 marks "not measured"
        products = [cols[m] for m in HWNB_NB201_METRICS if m != "eyeriss_arithmetic_intensity"]
        cols["average_hw_metric"] = nan_product(products)
        cols["geomean_hw_metric"] = geomean(products)
        if self.dataset == "cifar10":
            help_cols = load_arrays("help_nb201_latency.npz")
            for col in sorted(set(help_cols) - set(HELP_DUPLICATES), key=help_sort_key):
                cols[help_metric_name(col)] = help_cols[col]
        for name in local_devices():
            cols.update(nb201_columns(get_device(name), self.dataset))
        params, macs = nb201_params_macs(self.space.ops_table, num_classes=NUM_CLASSES[self.dataset],
                                         input_size=INPUT_SIZE[self.dataset])
        cols["params"] = params.astype(np.float64)
        cols["flops"] = macs / 1e6
        acc = load_arrays("nb201_accuracy.npz")
        for split in ("train", "valid", "test"):
            cols[f"{split}_acc"] = acc[f"{self.dataset}/{split}_acc"]
        for v in cols.values():
            v.flags.writeable = False
        return cols

    @cached_property
    def _matrix(self) -> np.ndarray:
        """(15625, n_metrics) row-major copy so that one arch's metrics are one contiguous row."""
        return np.ascontiguousarray(np.stack([self._columns[m] for m in self.metrics], axis=1))

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def accuracy_setting(self) -> str:
        return ACCURACY_SETTING[self.dataset]

    def column(self, metric: str) -> np.ndarray:
        """One metric for all archs, in NB201 index order (read-only view). May hold NaN: use
        ``np.nanargmin``/pandas ``idxmin``, never plain ``np.argmin``."""
        self._check_metrics([metric])
        return self._columns[metric]

    def column_or_predicted(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``metric`` where the table has it, else its ``<metric>_predicted`` estimate (a device measured
        on this machine covers only its measured cells), and a mask of the estimated entries. The one
        rule for budgets: search constraints and reports both read it."""
        values = np.asarray(self.column(metric), dtype=np.float64)
        estimated = np.zeros(len(values), dtype=bool)
        if f"{metric}_predicted" in self._columns:
            predicted = self._columns[f"{metric}_predicted"]
            estimated = ~np.isfinite(values) & np.isfinite(predicted)
            values = np.where(estimated, predicted, values)
        return values, estimated

    def table(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """All 15,625 archs: index = NB201 index, one column per metric."""
        names = self._check_metrics(metrics)
        df = pd.DataFrame({m: self._columns[m] for m in names}, copy=True)
        df.index.name = "nb201_index"
        return df

    def query_many(self, archs: Iterable[Any] | None = None,
                   metrics: Sequence[str] | None = None) -> pd.DataFrame:
        if archs is None:
            return self.table(metrics)
        idx = self.space.indices(archs)
        names = self._check_metrics(metrics)
        return pd.DataFrame({m: self._columns[m][idx] for m in names}, index=pd.Index(idx, name="nb201_index"))

    def query(self, arch: Any, metrics: Sequence[str] | None = None) -> dict[str, float]:
        i = self.space.index(self.space.parse(arch))
        if metrics is None:
            return dict(zip(self.metrics, self._matrix[i].tolist()))
        names = self._check_metrics(metrics)
        return {m: float(self._columns[m][i]) for m in names}

    def missing_reason(self, arch: Any, metric: str) -> str | None:
        self._check_metrics([metric])
        i = self.space.index(self.space.parse(arch))
        if not np.isnan(self._columns[metric][i]):
            return None
        if metric == "edgetpu_latency":
            return EDGETPU_MISSING
        if metric.endswith("_latency") and metric[:-len("_latency")] in local_devices():
            n = int(np.isfinite(self._columns[metric]).sum())
            estimate = (f"{metric}_predicted estimates it" if f"{metric}_predicted" in self._columns else
                        "too few archs to predict the others")
            if get_device(metric[:-len("_latency")]).kind == "imported":
                return (f"not in the imported table ({n:,} of 15,625 archs are); {estimate}, or import a fuller "
                        "table with archscout hw import --replace")
            return (f"not measured ({n:,} of 15,625 archs are); {estimate}, or measure more: "
                    f"archscout hw measure --space nb201 --dataset {self.dataset}")
        if metric in ("average_hw_metric", "geomean_hw_metric"):
            return f"includes edgetpu_latency, which is missing: {EDGETPU_MISSING}"
        return "no value in the source table"
