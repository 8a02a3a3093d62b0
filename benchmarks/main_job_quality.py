"""Search quality of the main job against ground truth: where its chosen cells fall in the reference table.

For each search seed, the main job's search stage (``archscout search``'s method on the default task,
training seed = search seed) picks a cell; the cell is placed in the reference table of
``benchmarks/ood_reference.py`` by its mean held-out accuracy over the table's seeds (percentile among the
table's cells within the budget). The same for NAS-OoD's cells and for the baselines: the best CIFAR-10
cell within the budget (a transfer prior), the mean of random cells within the budget, the ResNet-like
cell, the best CIFAR-10 cell (both over the budget) and DARTS without a budget. A cell missing
from the table is trained into it first, with the table's own command and config (so the table always
holds every cell a method or baseline returns). The chosen cells are stored in
``benchmarks/reference/main_job_quality.json``; the figures are computed from the table as it stands, so
they follow the table as it grows.

Usage::

    python benchmarks/main_job_quality.py                   # default method, 3 search seeds (resumes)
    python benchmarks/main_job_quality.py --summary --json  # figures from the stored searches and table, no training
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ood_reference as ref  # noqa: E402

OUT = ref.REFERENCE / "main_job_quality.json"


def _search(method: str, split: str, seed: int, run_dir: str, profile: str, suite: str) -> dict[str, Any]:
    from archscout.pipeline import MainJobConfig, run_main_job

    cfg = MainJobConfig(suite=suite, split=split, method=method, seeds=(seed,), profile=profile, run_dir=run_dir,
                        name=f"quality-{method}-{split}-seed{seed}")
    job = run_main_job(cfg, search_only=True, log=lambda line: print(line, flush=True))
    return {"arch": job["arch"], "arch_index": job["arch_index"], "diagnostics": job["search"]["diagnostics"]}


def _baselines(seed: int, n_random: int) -> dict[str, list[int]]:
    from archscout.oneshot import OpCost
    from archscout.pipeline import DEFAULT_DEVICE, DEFAULT_MAX_LATENCY, RESNET_CELL, best_cifar10_cell
    from archscout.pipeline import random_feasible_cells

    cost = OpCost.fit("nb201", DEFAULT_DEVICE).with_target(DEFAULT_MAX_LATENCY)
    return {"best_cifar10_within_budget": [best_cifar10_cell(cost)],
            "random_feasible_mean": random_feasible_cells(cost, n_random, seed),
            "resnet_like": [RESNET_CELL], "best_cifar10": [best_cifar10_cell()]}


def _ensure(table: str, cells: list[int], workers: int) -> list[dict[str, Any]]:
    """The table's rows, after training any of ``cells`` it lacks with the table's own settings."""
    path = ref.REFERENCE / f"{table}.csv"
    meta = json.loads(path.with_suffix(".json").read_text())
    have = {r["arch_index"] for r in ref.read_rows(path)}
    missing = [c for c in dict.fromkeys(cells) if c not in have]
    if missing:
        print(f"training {len(missing)} cell(s) into {path.name}: {missing}", flush=True)
        args = argparse.Namespace(
            name=table, suite=meta["suite"], split=meta["split"], device=meta["device"],
            max_latency=meta["max_latency"], cells=meta["cells"], seeds=meta["seeds"], workers=workers,
            include=",".join(map(str, [*meta["include"], *missing])),
            set=[f"{k}={json.dumps(v)}" for k, v in meta["train_overrides"].items()])
        ref.build(args, extra_only=missing)
    return ref.read_rows(path)


def place(rows: list[dict[str, Any]], cells: list[int]) -> dict[str, Any]:
    """Mean held-out accuracy of ``cells`` (each a mean over the table's seeds) and its percentile."""
    population = list(ref.cell_means(rows).values())
    means = ref.cell_means(rows, feasible_only=False)
    acc = statistics.fmean(means[c] for c in cells)
    return {"heldout_acc": round(acc, 3), "percentile": round(ref.percentile(acc, population), 1)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Search with each method and seed (resumable run folders), train the cells the table lacks; returns
    what was chosen (placed in the table by ``figures``)."""
    chosen = {m: [_search(m, args.split, s, args.run_dir, args.profile, args.suite) for s in range(args.search_seeds)]
              for m in dict.fromkeys([args.method, "nasood", args.baseline_method])}
    base = _baselines(0, args.random_cells)
    base["darts_no_budget"] = [chosen[args.baseline_method][0]["arch_index"]]
    cells = [c["arch_index"] for cs in chosen.values() for c in cs] + [c for v in base.values() for c in v]
    _ensure(ref.table_name(args.suite, args.split), cells, args.workers)
    return {"split": args.split, "suite": args.suite, "method": args.method,
            "baseline_method": args.baseline_method, "chosen": chosen, "baseline_cells": base}


def figures(stored: dict[str, Any]) -> dict[str, Any]:
    """The chosen cells and baselines placed in the reference table as it stands now (percentiles among its
    cells within the budget, by mean held-out accuracy over its seeds), and the targets."""
    from archscout.pipeline import DEFAULT_MAX_LATENCY, budget_latency

    table = ref.table_name(stored["suite"], stored["split"])
    rows = ref.read_rows(ref.REFERENCE / f"{table}.csv")

    def lat(i: int) -> float:
        return budget_latency("raspi4_latency", i)[0]

    out = {k: stored[k] for k in ("split", "suite", "method")}
    out.update(table=table, table_cells=len(ref.cell_means(rows)), seeds=[])
    for s, c in enumerate(stored["chosen"][stored["method"]]):
        out["seeds"].append({"search_seed": s, "arch": c["arch"], "arch_index": c["arch_index"],
                             "latency_ms": lat(c["arch_index"]), "meets_budget": lat(c["arch_index"]) <= DEFAULT_MAX_LATENCY,
                             **place(rows, [c["arch_index"]]), "diagnostics": c["diagnostics"]})
    out["mean_percentile"] = round(statistics.fmean(s["percentile"] for s in out["seeds"]), 1)
    out["mean_heldout_acc"] = round(statistics.fmean(s["heldout_acc"] for s in out["seeds"]), 3)
    out["baselines"] = {name: {**place(rows, v), "cells": v, "meets_budget": all(lat(i) <= DEFAULT_MAX_LATENCY
                                                                                for i in v)}
                        for name, v in stored["baseline_cells"].items()}
    nasood = stored["chosen"]["nasood"]
    nas = [place(rows, [c["arch_index"]]) for c in nasood]
    out["nasood"] = {"mean_percentile": round(statistics.fmean(p["percentile"] for p in nas), 1),
                     "cells": [c["arch_index"] for c in nasood], "per_seed": nas,
                     "learned": [c["diagnostics"].get("learned") for c in nasood],
                     "decided_by": [c["diagnostics"].get("decided_by") for c in nasood]}
    b = out["baselines"]
    out["targets"] = {"every_seed_meets_budget": all(s["meets_budget"] for s in out["seeds"]),
                      "mean_percentile_ge_80": out["mean_percentile"] >= 80,
                      "ge_best_cifar10_within_budget": out["mean_heldout_acc"] >= b["best_cifar10_within_budget"]["heldout_acc"],
                      "gt_random_feasible_mean": out["mean_heldout_acc"] > b["random_feasible_mean"]["heldout_acc"]}
    return out


def main() -> None:
    from archscout.pipeline import DEFAULT_SPLIT, MainJobConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", default=MainJobConfig().method)
    p.add_argument("--baseline-method", default="darts")
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--split", default=DEFAULT_SPLIT)
    p.add_argument("--search-seeds", type=int, default=3)
    p.add_argument("--random-cells", type=int, default=5)
    p.add_argument("--profile", default="cpu")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--run-dir", default="runs/bench-quality")
    p.add_argument("--summary", action="store_true", help="print the figures from the stored searches and the table; no training")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    key = f"{args.suite}/{args.split}/{args.method}"
    if not args.summary:
        stored[key] = run(args)
        OUT.write_text(json.dumps(stored, indent=1) + "\n")
    if key not in stored:
        raise SystemExit(f"error: no stored searches for {key}; run without --summary first")
    res = figures(stored[key])
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"{res['suite']} / {res['split']}: {res['method']} over {len(res['seeds'])} search seeds, placed among "
          f"the {res['table_cells']} cells within the budget of {res['table']}")
    for s in res["seeds"]:
        print(f"  seed {s['search_seed']}: cell {s['arch_index']} ({s['latency_ms']:.2f} ms) held-out {s['heldout_acc']:.2f} "
              f"% -> percentile {s['percentile']:.0f}")
    print(f"  mean percentile {res['mean_percentile']:.1f}, mean held-out {res['mean_heldout_acc']:.2f} %")
    for name, b in res["baselines"].items():
        print(f"  baseline {name}: {b['heldout_acc']:.2f} % (percentile {b['percentile']:.0f}, "
              f"{'within' if b['meets_budget'] else 'over'} budget)")
    print(f"  NAS-OoD: mean percentile {res['nasood']['mean_percentile']:.1f} (cells {res['nasood']['cells']}, "
          f"decided by {res['nasood']['decided_by']})")
    print(f"  targets: {res['targets']}")


if __name__ == "__main__":
    main()
