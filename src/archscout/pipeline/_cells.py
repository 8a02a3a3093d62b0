"""The cells the main job compares and their costs, from the NB201 tables: latency on every device, the
budget's latency, the transfer-prior and random baselines, and the feasibility rule every search obeys."""

from __future__ import annotations

from typing import Any

import numpy as np

from archscout.exceptions import ArchscoutError

# Every latency column of the NB201 CIFAR-10 table, measured or published (predicted columns left out).
LATENCY_DATASET = "cifar10"


def _table(dataset: str = LATENCY_DATASET):
    from archscout.hardware import get_cost_model

    return get_cost_model("nb201", dataset)


def latency_metrics(predicted: bool = False) -> list[str]:
    """Every latency column of the NB201 table (all devices; ``*_predicted`` columns only if asked)."""
    return [m for m in _table().metrics if "_latency" in m and (predicted or not m.endswith("_predicted"))]


def latencies(arch: Any) -> dict[str, float | None]:
    """A cell's latency on every device of the table (None where a device has no value)."""
    row = _table().query(arch, latency_metrics())
    return {m: (None if not np.isfinite(v) else float(v)) for m, v in row.items()}


def budget_latency(metric: str, index: int) -> tuple[float | None, bool]:
    """A cell's latency on the budget's metric, and whether it is predicted (a device measured on this
    machine covers only its measured cells): the value the search's budget was enforced on."""
    values, estimated = _table().column_or_predicted(metric)
    if not np.isfinite(values[index]):
        return None, False
    return float(values[index]), bool(estimated[index])


# Relative CPU training time of an op on an edge (base 2 for the stem and reduction blocks); fitted by eye to
# the reference table's seconds (an identity cell 18 s, each average pooling about +30 s, a 3x3 conv +15 s).
TRAIN_TIME_WEIGHTS = {"avg_pool_3x3": 3.0, "nor_conv_3x3": 1.5, "nor_conv_1x1": 1.0}


def training_time(index: int) -> float:
    """A cell's expected training time relative to other cells (for scheduling the longest first)."""
    from archscout.spaces import get_space

    sp = get_space("nb201")
    weights = np.array([TRAIN_TIME_WEIGHTS.get(op, 0.0) for op in sp.ops_names])
    return 2.0 + float((sp.encode(sp.from_index(index)).reshape(-1, len(weights)) @ weights).sum())


def best_cifar10_cell(cost: Any = None) -> int:
    """The NB201 cell with the best CIFAR-10 validation accuracy (cifar10-valid; never test_acc); with a
    cost target (``OpCost``), the best among the connected cells that meet it."""
    acc = np.asarray(_table("cifar10").column("valid_acc"), dtype=np.float64)
    if cost is not None and cost.target is not None:
        acc = np.where(feasible(cost), acc, -np.inf)
    return int(np.nanargmax(acc))


def feasible(cost: Any) -> np.ndarray:
    """Connected NB201 cells whose budget cost meets the target (the searches' hard constraint)."""
    from archscout.spaces import get_space

    ok = ~get_space("nb201").disconnected_mask()
    return ok & (cost.true_costs() <= cost.target) if cost.target is not None else ok


def random_feasible_cells(cost: Any, n: int, seed: int) -> list[int]:
    """``n`` distinct uniformly random connected cells within the budget (seeded)."""
    pool = np.flatnonzero(feasible(cost))
    rng = np.random.default_rng([seed, 11])
    return sorted(int(i) for i in rng.choice(pool, size=min(n, len(pool)), replace=False))


def nb201_reported(index: int) -> dict[str, float]:
    """NB201's own CIFAR-10 validation and test accuracy of a cell (shown, never searched on)."""
    row = _table("cifar10").query(index, ["valid_acc", "test_acc"])
    return {f"cifar10_{k}": float(v) for k, v in row.items()}


def check_budget(cost: Any) -> None:
    """A budget that only cells with their output cut off from the input meet (chance accuracy) is refused."""
    from archscout.spaces import get_space

    if cost.target is None:
        return
    costs = cost.true_costs()[~get_space(cost.space).disconnected_mask()]
    cheapest = float(np.nanmin(costs))
    if cheapest > cost.target:
        raise ArchscoutError(f"no connected {cost.space} cell has {cost.metric} <= {cost.target:g} {cost.unit} (the "
                             f"cheapest takes {cheapest:.4g} {cost.unit}; cheaper cells cut the output off from "
                             "the input)")


def connected_derivation(distribution: Any, cost: Any = None) -> Any:
    """The most probable NB201 arch under a per-edge distribution (6 x 5) whose output is connected to
    its input and, with a cost target, whose table cost meets it; None if the distribution is not
    per-edge or no arch qualifies."""
    from archscout.oneshot._cost import most_probable_connected

    probs = np.asarray(distribution, dtype=np.float64)
    if probs.shape != (6, 5) or not np.isfinite(probs).all():
        return None
    allowed = cost.true_costs() <= cost.target if cost is not None and cost.target is not None else None
    return most_probable_connected("nb201", probs, allowed)


def comparison_cells(config: Any, cost: Any, searched: int, baseline_search: int, seed: int) -> list[tuple[str, int, str]]:
    """(name, cell, how it was found) of the searched cell and every baseline, in the report's order: the
    ResNet-like cell, the best CIFAR-10 cell, the best CIFAR-10 cell within the budget, the baseline
    method's cell without a budget, then ``config.random_baselines`` random cells within the budget."""
    from archscout.pipeline._config import RESNET_CELL

    best, best_in = best_cifar10_cell(), best_cifar10_cell(cost)
    specs = [("searched", searched, f"{config.method} with the latency budget as cost target"),
             (f"ERM ResNet-like cell {RESNET_CELL}", RESNET_CELL, "fixed: NB201's ResNet-like cell"),
             (f"ERM best CIFAR-10 cell {best}", best, "NB201 table: best CIFAR-10 validation accuracy (cifar10-valid)"),
             (f"ERM best CIFAR-10 cell within budget {best_in}", best_in,
              "NB201 table: best CIFAR-10 validation accuracy among the cells within the budget (a transfer prior)"),
             (f"{config.baseline_method} (no budget)", baseline_search,
              f"{config.baseline_method} on the same training domains, profile {config.profile}, no latency target")]
    return specs + [(f"random feasible cell {i}", i, "uniformly random connected cell within the budget")
                    for i in random_feasible_cells(cost, config.random_baselines, seed)]
