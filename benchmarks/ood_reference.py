"""Ground truth for the main job's task: NB201 cells within the budget, each trained from scratch with the
main job's training config over several seeds, with every search signal and the held-out accuracy.

One row per (cell, seed) in a CSV under ``benchmarks/reference/`` (the command that made it beside it, in
``<name>.json``). Rows are appended as runs finish, so a killed run resumes where it stopped; ``--workers``
trains that many cells at once (one torch thread each).

Cells: every cell a method or baseline of the main job returns (``--include``), then feasible cells
(``--device`` latency <= ``--max-latency``, output connected to the input, one per isomorphism class)
drawn one per latency bin so that the table spans the feasible range.

Usage::

    python benchmarks/ood_reference.py                          # the default task's table (resumes)
    python benchmarks/ood_reference.py --split correlation --cells 40
    python benchmarks/ood_reference.py --summary --json         # figures from the stored CSVs, no training
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parent / "reference"
# Cells the main job returns or compares with (ResNet-like, best CIFAR-10 cell, best CIFAR-10 cell within
# the default budget, NAS-OoD's fallback cell) are always in the table.
DEFAULT_INCLUDE = (11472, 6111, 2058, 186)
PRIOR_TOP = 12  # and the first cells of prior-sh's order (NB201's CIFAR-10 prior within the budget)
COLUMNS = ("suite", "split", "arch_index", "arch", "seed", "feasible", "latency_ms", "params", "epochs",
           "selected_epoch", "val_acc", "val_worst", "val_last", "heldout_acc", "heldout_last", "heldout_last3",
           "train_acc", "seconds", "val_per_epoch", "heldout_per_epoch")
# Signals that never read the held-out domain; their rank correlation with held-out accuracy is reported.
RUN_SIGNALS = ("val_acc", "val_worst", "val_last", "train_acc")


def table_name(suite: str, split: str) -> str:
    return f"{Path(suite).name}-{split}"


def train_overrides(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values read as JSON) on top of the main job's training config."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set {pair!r} must be KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def select_cells(n: int, device: str, max_latency: float, include: tuple[int, ...], seed: int = 0) -> list[int]:
    """``include``, then ``n`` feasible cells (``device`` latency <= ``max_latency``, output connected to the
    input, one per isomorphism class and none isomorphic to an included cell), one drawn per equal-width
    latency bin so that they span the feasible range (the draws of empty bins go round the others). The
    ``n`` drawn cells do not depend on ``include``."""
    from archscout.hardware import get_cost_model
    from archscout.spaces import get_space

    sp = get_space("nb201")
    lat, _ = get_cost_model("nb201", "cifar10").column_or_predicted(f"{device}_latency")
    ok = np.isfinite(lat) & (lat <= max_latency) & ~sp.disconnected_mask()
    seen, pool = set(), []
    for i in np.flatnonzero(ok):
        key = sp.canonical(sp.from_index(int(i)))
        if key not in seen:
            seen.add(key)
            pool.append(int(i))
    rng = np.random.default_rng(seed)
    rng.shuffle(pool)
    edges = np.linspace(lat[pool].min(), lat[pool].max(), n + 1)
    bins = [[i for i in pool if lo <= lat[i] < hi or (b == n - 1 and lat[i] == hi)]
            for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    chosen: list[int] = []
    while len(chosen) < n and any(bins):
        for b in bins:
            if b and len(chosen) < n:
                chosen.append(b.pop())
    taken = {sp.canonical(sp.from_index(i)) for i in include}
    return list(dict.fromkeys(include)) + [i for i in chosen if sp.canonical(sp.from_index(i)) not in taken]


def default_include(device: str, max_latency: float) -> tuple[int, ...]:
    """The cells the main job compares with, and the first ``PRIOR_TOP`` of prior-sh's order."""
    from archscout.oneshot import OpCost
    from archscout.spaces import get_space
    from archscout.strategies import prior_order, prior_scores

    sp = get_space("nb201")
    allowed = OpCost.fit("nb201", device).with_target(max_latency).true_costs() <= max_latency
    top = prior_order(sp, prior_scores(sp, "nb201-cifar10"), allowed)[:PRIOR_TOP]
    return tuple(dict.fromkeys([*DEFAULT_INCLUDE, *top]))


def resolved_config(suite: str, split: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The training config and data settings every row is trained with (the main job's, resolved)."""
    from archscout.pipeline import MainJobConfig
    from archscout.pipeline import data_size, train_config

    job = MainJobConfig(suite=suite, split=split, train_overrides=overrides)
    size, per_domain = data_size(job)
    cfg = train_config(job, 0).identity()
    del cfg["seed"]
    return {**cfg, "image_size": size, "per_domain": per_domain, "data_seed": job.data_seed}


_DATA: dict[str, Any] = {}


def _run(task: dict[str, Any]) -> dict[str, Any]:
    """Train one (cell, seed) with the main job's training config; the CSV row (in a worker process)."""
    import torch

    from archscout.pipeline import MainJobConfig
    from archscout.pipeline import load_data, train_config
    from archscout.train import train

    torch.set_num_threads(1)
    job = MainJobConfig(suite=task["suite"], split=task["split"], train_overrides=task["overrides"], threads=1)
    key = json.dumps([task["suite"], task["split"]])
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_data(job)
    data = _DATA[key]
    cfg = train_config(job, task["seed"])
    start = time.perf_counter()
    r = train("nb201", task["arch_index"], data, cfg)
    seconds = time.perf_counter() - start
    hist = r.history
    val = [statistics.fmean(h["val"].values()) for h in hist]
    held = [statistics.fmean(h["test"].values()) for h in hist]
    sel = r.selected_epoch
    return {"suite": task["suite"], "split": task["split"], "arch_index": task["arch_index"], "arch": r.arch,
            "seed": task["seed"], "feasible": int(task["feasible"]), "latency_ms": round(task["latency_ms"], 4),
            "params": r.params, "epochs": r.epochs, "selected_epoch": sel, "val_acc": round(val[sel - 1], 4),
            "val_worst": round(min(hist[sel - 1]["val"].values()), 4), "val_last": round(val[-1], 4),
            "heldout_acc": round(held[sel - 1], 4), "heldout_last": round(held[-1], 4),
            "heldout_last3": round(statistics.fmean(held[-3:]), 4),
            "train_acc": round(hist[-1]["train_acc"], 4), "seconds": round(seconds, 2),
            "val_per_epoch": json.dumps([round(v, 3) for v in val]),
            "heldout_per_epoch": json.dumps([round(v, 3) for v in held])}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a table (a line cut short by a kill is dropped and rewritten on resume)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if None not in r.values() and r.get("heldout_per_epoch")]
    for r in rows:
        for k in ("arch_index", "seed", "feasible", "params", "epochs", "selected_epoch"):
            r[k] = int(r[k])
        for k in ("latency_ms", "val_acc", "val_worst", "val_last", "heldout_acc", "heldout_last",
                  "heldout_last3", "train_acc", "seconds"):
            r[k] = float(r[k])
    return rows


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def build(args: argparse.Namespace, extra_only: list[int] | None = None) -> Path:
    """Train the table's missing rows (``extra_only``: just these cells, added to its ``include``)."""
    from archscout.hardware import get_cost_model

    name = args.name or table_name(args.suite, args.split)
    REFERENCE.mkdir(exist_ok=True)
    path, meta_path = REFERENCE / f"{name}.csv", REFERENCE / f"{name}.json"
    overrides = train_overrides(args.set)
    include = default_include(args.device, args.max_latency) if args.include is None else \
        tuple(int(i) for i in args.include.split(",") if i)
    if meta_path.exists():  # cells added later (main_job_quality.py) stay in the table
        include = tuple(dict.fromkeys([*include, *json.loads(meta_path.read_text()).get("include", [])]))
    meta = {"command": "python benchmarks/ood_reference.py " + " ".join(sys.argv[1:]), "suite": args.suite,
            "split": args.split, "device": args.device, "max_latency": args.max_latency, "cells": args.cells,
            "seeds": args.seeds, "include": list(include), "train_overrides": overrides,
            "train_config": resolved_config(args.suite, args.split, overrides)}
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        diff = [k for k in meta if k not in ("command", "cells", "seeds", "include") and k in old
                and old[k] != meta[k]]
        if diff:
            raise SystemExit(f"error: {path} was made with other settings ({', '.join(diff)}); use --name")
        if extra_only is not None:  # the table's own command stands; the extra cells join its include
            meta["command"] = old["command"]
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    lat, _ = get_cost_model("nb201", "cifar10").column_or_predicted(f"{args.device}_latency")
    cells = list(extra_only) if extra_only is not None else select_cells(args.cells, args.device,
                                                                          args.max_latency, include)
    rows = read_rows(path)
    _write_rows(path, rows)  # drops a line cut short by a kill
    done = {(r["arch_index"], r["seed"]) for r in rows}
    tasks = [{"suite": args.suite, "split": args.split, "overrides": overrides, "arch_index": c, "seed": s,
              "latency_ms": float(lat[c]), "feasible": bool(lat[c] <= args.max_latency)}
             for c in cells for s in range(args.seeds) if (c, s) not in done]  # cell by cell: a part-made
    # table holds whole cells
    print(f"{path.name}: {len(cells)} cells x {args.seeds} seeds, {len(done)} rows stored, {len(tasks)} to train",
          flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool, path.open("a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        futures = [pool.submit(_run, t) for t in tasks]
        for k, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            w.writerow(row)
            f.flush()
            os.fsync(f.fileno())
            eta = (time.perf_counter() - start) / k * (len(tasks) - k)
            print(f"[{k}/{len(tasks)}] cell {row['arch_index']} seed {row['seed']}: held-out {row['heldout_acc']:.2f} "
                  f"val {row['val_acc']:.2f} ({row['seconds']:.0f} s; eta {eta / 60:.0f} min)", flush=True)
    return path


def check(args: argparse.Namespace) -> bool:
    """Re-train ``args.check`` stored rows (drawn at random) with the table's settings; True when every
    column but the seconds is reproduced exactly."""
    name = args.name or table_name(args.suite, args.split)
    path = REFERENCE / f"{name}.csv"
    meta = json.loads(path.with_suffix(".json").read_text())
    rows = read_rows(path)
    picks = [rows[i] for i in np.random.default_rng().choice(len(rows), size=min(args.check, len(rows)), replace=False)]
    tasks = [{"suite": meta["suite"], "split": meta["split"], "overrides": meta["train_overrides"],
              "arch_index": r["arch_index"], "seed": r["seed"], "latency_ms": r["latency_ms"],
              "feasible": bool(r["feasible"])} for r in picks]
    ok = True
    with ProcessPoolExecutor(args.workers) as pool:
        for stored, again in zip(picks, pool.map(_run, tasks)):
            diff = [k for k in COLUMNS if k != "seconds" and str(again[k]) != str(stored[k])]
            ok &= not diff
            print(f"cell {stored['arch_index']} seed {stored['seed']}: held-out {stored['heldout_acc']} -> "
                  f"{again['heldout_acc']}, val {stored['val_acc']} -> {again['val_acc']}: "
                  + ("reproduced" if not diff else f"DIFFERS in {', '.join(diff)}"), flush=True)
    return ok


# -- summary ------------------------------------------------------------------------------------------
def cell_means(rows: list[dict[str, Any]], column: str = "heldout_acc", feasible_only: bool = True,
               min_seeds: int = 1) -> dict[int, float]:
    by: dict[int, list[float]] = {}
    for r in rows:
        if r["feasible"] or not feasible_only:
            by.setdefault(r["arch_index"], []).append(r[column])
    return {c: statistics.fmean(v) for c, v in by.items() if len(v) >= min_seeds}


def percentile(value: float, population: list[float]) -> float:
    """Percent of the population below ``value`` (ties count half)."""
    below = sum(v < value for v in population) + 0.5 * sum(v == value for v in population)
    return 100.0 * below / len(population)


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3:
        return None
    rho = spearmanr(a, b).statistic
    return None if not math.isfinite(rho) else round(float(rho), 4)


def noise(rows: list[dict[str, Any]], column: str = "heldout_acc") -> dict[str, Any]:
    """Between-cell sd of seed means against the sd of one seed mean, over cells with the most seeds."""
    by: dict[int, list[float]] = {}
    for r in rows:
        if r["feasible"]:
            by.setdefault(r["arch_index"], []).append(r[column])
    if not by:
        return {"cells": 0, "seeds": 0, "between_cell_sd": None, "within_cell_sd": None}
    seeds = max(len(v) for v in by.values())
    full = {c: v for c, v in by.items() if len(v) == seeds}
    means = [statistics.fmean(v) for v in full.values()]
    between = statistics.stdev(means) if len(means) > 1 else None
    within = (math.sqrt(statistics.fmean(statistics.variance(v) for v in full.values())) / math.sqrt(seeds)
              if seeds > 1 else None)
    return {"cells": len(full), "seeds": seeds, "between_cell_sd": None if between is None else round(between, 4),
            "within_cell_sd": None if within is None else round(within, 4)}


def summarize(path: Path) -> dict[str, Any]:
    from archscout.hardware import get_cost_model

    rows = read_rows(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    out = {"name": path.stem, "suite": meta["suite"], "split": meta["split"], **noise(rows)}
    signals = {}
    held = cell_means(rows)
    cells = sorted(held)
    y = [held[c] for c in cells]
    for col in RUN_SIGNALS:
        m = cell_means(rows, col)
        signals[col] = spearman([m[c] for c in cells], y)
    acc = get_cost_model("nb201", "cifar10").column("valid_acc")
    signals["nb201_cifar10_valid_acc"] = spearman([float(acc[c]) for c in cells], y)
    lat = {r["arch_index"]: r["latency_ms"] for r in rows}
    params = {r["arch_index"]: r["params"] for r in rows}
    signals["latency"] = spearman([lat[c] for c in cells], y)
    signals["params"] = spearman([params[c] for c in cells], y)
    out["val_vs_heldout_spearman"] = signals["val_acc"]
    out["signals_vs_heldout_spearman"] = signals
    for col in ("heldout_last", "heldout_last3"):
        out[f"noise_{col}"] = noise(rows, col)
    out["heldout_range"] = [round(min(y), 2), round(max(y), 2)] if y else None
    out["hours"] = round(sum(r["seconds"] for r in rows) / 3600, 2)
    out["command"] = meta["command"]
    return out


def main() -> None:
    from archscout.pipeline import DEFAULT_DEVICE, DEFAULT_MAX_LATENCY, DEFAULT_SPLIT

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--split", default=DEFAULT_SPLIT)
    p.add_argument("--cells", type=int, default=120, help="cells drawn over the feasible latency range (the "
                   "included ones come on top)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--include", default=None, help="cells always in the table, comma-separated (default: the "
                   f"main job's cells {', '.join(map(str, DEFAULT_INCLUDE))} and prior-sh's first {PRIOR_TOP})")
    p.add_argument("--device", default=DEFAULT_DEVICE)
    p.add_argument("--max-latency", type=float, default=DEFAULT_MAX_LATENCY)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig field over the main job's training config (JSON value); repeatable")
    p.add_argument("--name", help="table name (default <suite>-<split>)")
    p.add_argument("--summary", action="store_true", help="print the stored tables' figures; no training")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", type=int, default=0, metavar="N",
                   help="re-train N stored rows drawn at random and compare (exit 1 if one differs)")
    args = p.parse_args()
    if args.check:
        raise SystemExit(0 if check(args) else 1)
    if args.summary:
        paths = sorted(REFERENCE.glob("*.csv")) if args.name is None else [REFERENCE / f"{args.name}.csv"]
        tables = [summarize(pth) for pth in paths if pth.with_suffix(".json").exists()]
        if args.json:
            print(json.dumps({"tables": tables}, indent=1))
        else:
            for t in tables:
                print(f"{t['name']}: {t['cells']} cells x {t['seeds']} seeds; held-out {t['heldout_range']}; "
                      f"between-cell sd {t['between_cell_sd']} vs within-cell sd {t['within_cell_sd']}; "
                      f"spearman with held-out: {t['signals_vs_heldout_spearman']}")
        return
    build(args)


if __name__ == "__main__":
    main()
