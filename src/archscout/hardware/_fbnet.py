"""FBNet costs: HW-NAS-Bench lookup tables summed per layer, HELP's sampled archs, params/MACs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from archscout.exceptions import DataIntegrityError, InvalidArchError, UnknownNameError
from archscout.hardware._base import CostModel, geomean, nan_product
from archscout.hardware._counting import fbnet_params_macs
from archscout.hardware._devices import FBNET_DATASETS, HELP_DUPLICATES, help_metric_name, help_sort_key
from archscout.hardware._tables import load_arrays, load_json
from archscout.spaces import get_space
from archscout.spaces._fbnet import FBNET_OP_PARAMS, fbnet_config, fbnet_layers

HWNB_FBNET_METRICS = (
    "edgegpu_latency", "edgegpu_energy", "raspi4_latency", "pixel3_latency",
    "eyeriss_latency", "eyeriss_energy", "fpga_latency", "fpga_energy",
)
HELP_MISSING = "HELP measured only its 5,000 sampled FBNet archs (CIFAR-100 setting); this is not one of them"


def lut_keys(dataset: str) -> tuple[str, list[list[str]], list[str]]:
    """HW-NAS-Bench LUT keys: the stem, per layer one key per op, and the head (conv, pool, fc)."""
    cfg = fbnet_config(dataset)
    stem = (f"ConvNorm_H{cfg.input_size}_W{cfg.input_size}_Cin3_Cout{cfg.stem_channels}_kernel3_"
            f"stride{cfg.stem_stride}_group1")
    layers = []
    for L in fbnet_layers(dataset):
        keys = []
        for op in FBNET_OP_PARAMS:
            if op is None:
                keys.append(f"Skip_H{L.h}_W{L.h}_Cin{L.c_in}_Cout{L.c_out}_stride{L.stride}")
            else:
                keys.append(f"ConvBlock_H{L.h}_W{L.h}_Cin{L.c_in}_Cout{L.c_out}_exp{op.expansion}_"
                            f"kernel{op.kernel}_stride{L.stride}_group{op.group}")
        layers.append(keys)
    last = fbnet_layers(dataset)[-1]
    h, hc = last.h // last.stride, cfg.header_channels
    head = [f"ConvNorm_H{h}_W{h}_Cin{cfg.stage_channels[-1]}_Cout{hc}_kernel1_stride1_group1",
            f"AvgP_H{h}_W{h}_Cin{hc}_Cout{hc}_kernel{h}_stride1", f"FC_Cin{hc}_Cout{cfg.num_classes}"]
    return stem, layers, head


class FBNetLUT(CostModel):
    """Cost of any of the 9^22 FBNet archs on one dataset: the sum of per-layer LUT entries.

    Sums run in HW-NAS-Bench's order (stem, layers 0..21, header, pool, fc), so results equal
    the official API's bit for bit.
    """

    space_name = "fbnet"

    def __init__(self, dataset: str = "cifar100"):
        if dataset not in FBNET_DATASETS:
            raise UnknownNameError("fbnet dataset", dataset, FBNET_DATASETS)
        self.dataset = dataset
        self.space = get_space("fbnet")

    @cached_property
    def _luts(self) -> dict[str, tuple[float, np.ndarray, list[float]]]:
        """metric -> (stem cost, (22, 9) layer costs, head costs): HW-NAS-Bench's, then those of the
        devices measured here (``archscout hw measure --space fbnet --lut``)."""
        from archscout.hardware._base import get_device
        from archscout.hardware._measured import fbnet_lut, local_devices

        stem, layers, head = lut_keys(self.dataset)
        tables = dict(load_json("fbnet_luts.json.gz"))
        for name in local_devices():
            measured = fbnet_lut(get_device(name), self.dataset)
            if measured is not None:
                tables[f"{name}_latency"] = measured
        out = {}
        for metric, lut in tables.items():
            try:
                out[metric] = (lut[stem], np.array([[lut[k] for k in ks] for ks in layers]),
                               [lut[k] for k in head])
            except KeyError as exc:
                raise DataIntegrityError(f"FBNet lookup table {metric!r} lacks entry {exc.args[0]!r}") from None
        return out

    @cached_property
    def _help(self) -> tuple[dict[tuple[int, ...], int], dict[str, np.ndarray]]:
        if self.dataset != "cifar100":
            return {}, {}
        arrays = load_arrays("help_fbnet_latency.npz")
        rows = {tuple(r): i for i, r in enumerate(arrays["op_idx"].tolist())}
        names = sorted(set(arrays) - {"op_idx", *HELP_DUPLICATES}, key=help_sort_key)
        cols = {help_metric_name(c): arrays[c] for c in names}
        return rows, cols

    @property
    def metrics(self) -> tuple[str, ...]:
        measured = tuple(m for m in self._luts if m not in HWNB_FBNET_METRICS)
        return HWNB_FBNET_METRICS + ("average_hw_metric", "geomean_hw_metric") + measured + tuple(self._help[1]) + (
            "params", "flops")

    def lut_sum(self, ops: np.ndarray) -> dict[str, np.ndarray]:
        """Lookup-table metrics for op rows (n, 22), vectorized, in the official summation order."""
        ops = np.asarray(ops, dtype=np.int64).reshape(-1, 22)
        out = {}
        for metric, (stem, layers, head) in self._luts.items():
            total = np.full(len(ops), stem)
            for i in range(22):
                total = total + layers[i, ops[:, i]]
            for h in head:
                total = total + h
            out[metric] = total
        return out

    def query_many(self, archs: Iterable[Any] | None = None,
                   metrics: Sequence[str] | None = None) -> pd.DataFrame:
        if archs is None:
            raise InvalidArchError("fbnet: give a list of archs (the 9^22 archs cannot be listed)")
        names = self._check_metrics(metrics)
        parsed = self._parse(archs)
        ops = np.array([a.ops for a in parsed], dtype=np.int64).reshape(-1, 22)
        cols: dict[str, np.ndarray] = self.lut_sum(ops)
        products = [cols[m] for m in HWNB_FBNET_METRICS]
        cols["average_hw_metric"] = nan_product(products)
        cols["geomean_hw_metric"] = geomean(products)
        rows, help_cols = self._help
        where = np.array([rows.get(a.ops, -1) for a in parsed], dtype=np.int64)
        for name, v in help_cols.items():
            cols[name] = np.where(where >= 0, v[where], np.nan)
        params, macs = fbnet_params_macs(ops, self.dataset)
        cols["params"], cols["flops"] = params.astype(np.float64), macs / 1e6
        return pd.DataFrame({m: cols[m] for m in names}, index=[self.space.to_str(a) for a in parsed])

    def missing_reason(self, arch: Any, metric: str) -> str | None:
        """Why a metric is NaN. Note: HW-NAS-Bench's FPGA tables cost skip layers, the stem and the
        head at 0, so all-skip archs have fpga_latency 0 (a source quirk kept as is)."""
        self._check_metrics([metric])
        if metric in self._help[1] and self.space.parse(arch).ops not in self._help[0]:
            return HELP_MISSING
        return None
