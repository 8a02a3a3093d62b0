"""A device's cost as a differentiable term of one-shot search: a per-(edge, op) additive table fitted on
the device's NB201 latency column (a device measured here: its measured cells), its expected value
under the architecture distribution (a penalty with a target), and a hard constraint at derivation on
the TRUE table cost (a device measured here: measured where measured, else its prediction).

Penalty form: ``weight * relu(expected / target - 1)``: zero while the expected cost meets the
target, then growing linearly with the relative excess (scale-free across devices and units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.hardware import AdditivePredictor, evaluate_predictor, get_cost_model, get_device, metric_info
from archscout.hardware import resolve_metric
from archscout.spaces import Arch, get_space

COST_SPACES = ("nb201",)


@dataclass(frozen=True)
class OpCost:
    """Cost of an NB201 arch on one device ~ ``intercept + sum_e table[e, op_e]`` (``table[e, 0] = 0``).

    Build with ``OpCost.fit(device="raspi4")``; ``with_target(8.0)`` adds a target (same unit as the
    metric) used as a penalty in the architecture loss and as a hard constraint at derivation.

    Attributes:
        quality: fit quality of the table on all archs with a value (spearman, kendall, within_5pct,
            within_10pct, archs).
    """

    space: str
    device: str
    metric: str
    dataset: str
    unit: str
    table: np.ndarray
    intercept: float
    quality: dict[str, float]
    target: float | None = None
    weight: float = 1.0

    @classmethod
    def fit(cls, space: str = "nb201", device: str = "raspi4", dataset: str = "cifar10",
            metric: str | None = None) -> "OpCost":
        """Fit the additive table (non-negative least squares) on every arch of ``space`` with a value
        (for a device measured here: on its measured archs; its true costs are then the measured values
        and, for the other archs, its prediction)."""
        if space not in COST_SPACES:
            raise UnknownNameError("cost space", space, COST_SPACES)
        get_device(device)
        metric = resolve_metric(f"latency@{device}") if metric is None else metric
        column = np.asarray(get_cost_model(space, dataset).column(metric), dtype=np.float64)
        ops = get_space(space).ops_table
        keep = np.isfinite(column)
        pred = AdditivePredictor("nnls").fit(ops[keep], column[keep])
        quality = {**evaluate_predictor(column[keep], pred.predict(ops[keep])), "archs": int(keep.sum())}
        return cls(space, device, metric, dataset, metric_info(metric).unit, pred.table, pred.intercept, quality)

    def with_target(self, target: float | None, weight: float = 1.0) -> "OpCost":
        """A copy with a target (None: report the cost only); a target no arch meets is an error."""
        if target is not None:
            if not (target > 0 and math.isfinite(target)):
                raise ArchscoutError(f"cost target {target!r} must be a positive finite number (no target: None)")
            best = float(np.nanmin(np.where(self._connected(), self.true_costs(), np.nan)))
            if not best <= target:
                raise ArchscoutError(f"no {self.space} arch with its output connected to its input has {self.metric} "
                                     f"<= {target:g} {self.unit} ({self.dataset}); the minimum achievable is "
                                     f"{best:.4g} {self.unit}")
        if not (weight >= 0 and math.isfinite(weight)):  # inf: a distribution of NaN, yet an arch "derived"
            raise ArchscoutError(f"cost weight {weight!r} must be a finite number >= 0")
        return replace(self, target=None if target is None else float(target), weight=float(weight))

    def describe(self) -> dict[str, Any]:
        """What identifies this cost term in a run's config (JSON-ready)."""
        return {"space": self.space, "device": self.device, "metric": self.metric, "dataset": self.dataset,
                "target": self.target, "weight": self.weight}

    # -- differentiable terms -----------------------------------------------------------------
    def expected(self, probs: torch.Tensor) -> torch.Tensor:
        """Expected additive cost of the per-edge op distribution ``probs`` (6, 5): differentiable."""
        table = torch.as_tensor(self.table, dtype=probs.dtype, device=probs.device)
        return self.intercept + (probs * table).sum()

    def penalty(self, probs: torch.Tensor) -> torch.Tensor:
        """``weight * relu(expected / target - 1)``; 0 without a target."""
        if self.target is None:
            return probs.new_zeros(())
        return self.weight * torch.relu(self.expected(probs) / self.target - 1.0)

    # -- exact costs ----------------------------------------------------------------------------
    def true_costs(self) -> np.ndarray:
        """The metric for every arch of the space, in index order (a measured device's prediction where it
        has no measurement; NaN where neither exists)."""
        return get_cost_model(self.space, self.dataset).column_or_predicted(self.metric)[0]

    def estimate(self, arch: Arch) -> float:
        """The additive table's estimate for one arch."""
        return float(self.intercept + self.table[np.arange(len(arch.ops)), list(arch.ops)].sum())

    def most_probable_feasible(self, probs: np.ndarray) -> Arch:
        """The most probable connected arch whose TRUE cost meets the target (``most_probable_connected``);
        the plain per-edge argmax without a target."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.target is None:
            return get_space(self.space).make(probs.argmax(-1).tolist())
        arch = most_probable_connected(self.space, probs, self.true_costs() <= self.target)  # NaN costs fail
        if arch is None:  # with_target has checked that some connected arch meets the target
            raise ArchscoutError(f"no connected {self.space} arch meets the cost target {self.target:g}")
        return arch

    def _connected(self) -> np.ndarray:
        return ~get_space(self.space).disconnected_mask()

    def report(self, arch: Arch) -> dict[str, Any]:
        """The cost block of a result: device, target, fit quality, and the arch on every known device."""
        bench = get_cost_model(self.space, self.dataset)
        row = bench.query(arch, [m for m in bench.metrics if "_latency" in m])
        value = float(self.true_costs()[get_space(self.space).index(arch)])
        return {**self.describe(), "unit": self.unit, "fit": dict(self.quality),
                "value": _finite(value), "estimate": self.estimate(arch),
                "meets_target": None if self.target is None else bool(value <= self.target),
                "latency_ms": {m: _finite(v) for m, v in row.items()}}


def most_probable_connected(space: str, probs: np.ndarray, allowed: np.ndarray | None = None) -> Arch | None:
    """The arch with the highest sum over edges of log p among those whose output is connected to their
    input (a cut-off cell is cheap but can only guess) and, if given, ``allowed`` (a mask over all archs);
    None if none qualifies. Zero probabilities stay comparable (floored at 1e-300)."""
    sp = get_space(space)
    ops = sp.ops_table.astype(np.int64)
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), 1e-300))[np.arange(ops.shape[1]), ops].sum(1)
    ok = ~sp.disconnected_mask() if allowed is None else np.asarray(allowed) & ~sp.disconnected_mask()
    if not ok.any():
        return None
    logp[~ok] = -np.inf
    return sp.from_index(int(np.argmax(logp)))


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None
