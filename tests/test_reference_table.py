"""benchmarks/ood_reference.py's statistics and cell choice (the reference tables' summary figures)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "ood_reference.py"
_spec = importlib.util.spec_from_file_location("ood_reference", _PATH)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def _rows(table: dict[int, list[float]], feasible: bool = True) -> list[dict]:
    return [{"arch_index": c, "seed": s, "feasible": int(feasible), "heldout_acc": v}
            for c, vs in table.items() for s, v in enumerate(vs)]


def test_between_and_within_cell_sd():
    rows = _rows({1: [60.0, 62.0, 61.0], 2: [70.0, 72.0, 71.0], 3: [50.0, 52.0, 51.0]})
    rows += _rows({9: [99.0, 99.0, 99.0]}, feasible=False)  # over the budget: not in the population
    out = ref.noise(rows)
    assert out["cells"] == 3 and out["seeds"] == 3
    assert out["between_cell_sd"] == pytest.approx(10.0)  # sd of 61, 71, 51
    assert out["within_cell_sd"] == pytest.approx(1.0 / math.sqrt(3), abs=1e-4)  # per-run sd 1


def test_percentile_counts_ties_half():
    assert ref.percentile(5.0, [1.0, 2.0, 5.0, 9.0]) == pytest.approx(62.5)
    assert ref.percentile(0.0, [1.0, 2.0]) == 0.0 and ref.percentile(3.0, [1.0, 2.0]) == 100.0


def test_cells_span_the_feasible_range_and_keep_the_included_ones():
    from archscout.hardware import get_cost_model
    from archscout.spaces import get_space

    lat = get_cost_model("nb201", "cifar10").column("raspi4_latency")
    sp = get_space("nb201")
    cells = ref.select_cells(20, "raspi4", 20.0, (11472, 186))
    assert cells[:2] == [11472, 186]
    drawn = cells[2:]
    assert all(lat[c] <= 20.0 and not sp.is_disconnected(sp.from_index(c)) for c in drawn)
    assert len({sp.canonical(sp.from_index(c)) for c in cells}) == len(cells)  # no two compute the same function
    assert min(lat[c] for c in drawn) < 4.0 and max(lat[c] for c in drawn) > 18.0
    assert ref.select_cells(20, "raspi4", 20.0, ())[:5] == ref.select_cells(20, "raspi4", 20.0, (2058,))[1:6]
