"""The leave-one-domain-out signal against a reference table: for cells of the table, the training
evaluator's ``lodo_acc`` (one extra training per training domain, that domain held out; never the
test domain), and its rank correlation with the cells' held-out accuracy (their mean over the
table's seeds), next to training-domain validation's on the same cells (its mean over the table's seeds,
and the one of the very runs that gave ``lodo_acc``).

    python benchmarks/lodo_signal.py --table fmnist-shift-correlation --cells 20 [--seed 0] [--workers 2]
    python benchmarks/lodo_signal.py --table fmnist-shift-correlation --summary

Rows go to ``benchmarks/reference/<table>-lodo.csv`` as they finish; re-running resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
from concurrent.futures import ProcessPoolExecutor, as_completed

import ood_reference as ref

COLUMNS = ("arch_index", "seed", "lodo_acc", "val_acc", "seconds")


def read_lodo(path, column: str = "lodo_acc") -> dict[int, float]:
    """``column`` per cell of the stored rows (complete lines only)."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        return {int(r["arch_index"]): float(r[column]) for r in csv.DictReader(f) if None not in r.values()}


def _run(task: dict) -> dict:
    import torch

    from archscout.evaluation import TrainingEvaluator, TrainingTask
    from archscout.pipeline import MainJobConfig, load_data, train_config

    torch.set_num_threads(1)
    job = MainJobConfig(suite=task["suite"], split=task["split"], train_overrides=task["overrides"], threads=1)
    train = train_config(job, task["seed"]).to_dict()
    ev = TrainingEvaluator("nb201", TrainingTask(task["suite"], task["split"], train=train), data=load_data(job),
                           signal="lodo_acc", report_heldout=False)
    e = ev.evaluate(ev.space.from_index(task["arch_index"]))
    return {"arch_index": task["arch_index"], "seed": task["seed"], "lodo_acc": round(e.values["lodo_acc"], 4),
            "val_acc": round(e.values["val_acc"], 4), "seconds": round(e.cost_s, 1)}


def cells_of(rows: list[dict], n: int) -> list[int]:
    """``n`` feasible cells of the table spread evenly over its held-out ranking (weakest to best)."""
    means = ref.cell_means(rows)
    order = sorted(means, key=lambda c: (means[c], c))
    if n >= len(order):
        return order
    return [order[round(i * (len(order) - 1) / (n - 1))] for i in range(n)]


def summary(table: str) -> dict:
    rows = ref.read_rows(ref.REFERENCE / f"{table}.csv")
    path = ref.REFERENCE / f"{table}-lodo.csv"
    lodo, val_same_run = read_lodo(path), read_lodo(path, "val_acc")
    held = ref.cell_means(rows)
    val = ref.cell_means(rows, "val_acc")
    cells = [c for c in lodo if c in held]
    return {"table": table, "cells": len(cells),
            "lodo_vs_heldout_spearman": ref.spearman([lodo[c] for c in cells], [held[c] for c in cells]),
            "val_vs_heldout_spearman_same_cells": ref.spearman([val[c] for c in cells], [held[c] for c in cells]),
            "val_vs_heldout_spearman_same_runs": ref.spearman([val_same_run[c] for c in cells],
                                                               [held[c] for c in cells])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", default="fmnist-shift-correlation")
    p.add_argument("--cells", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--summary", action="store_true", help="print the figures from the stored rows; no training")
    args = p.parse_args()
    if not args.summary:
        meta = json.loads((ref.REFERENCE / f"{args.table}.json").read_text())
        path = ref.REFERENCE / f"{args.table}-lodo.csv"
        done = set(read_lodo(path))
        cells = [c for c in cells_of(ref.read_rows(ref.REFERENCE / f"{args.table}.csv"), args.cells) if c not in done]
        tasks = [{"suite": meta["suite"], "split": meta["split"], "overrides": meta["train_overrides"],
                  "arch_index": c, "seed": args.seed} for c in cells]
        print(f"{path.name}: {len(done)} cells stored, {len(tasks)} to train", flush=True)
        with ProcessPoolExecutor(args.workers) as pool:
            for fut in as_completed([pool.submit(_run, t) for t in tasks]):
                row = fut.result()
                new = not path.exists()
                with path.open("a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=COLUMNS)
                    if new:
                        w.writeheader()
                    w.writerow(row)
                print(f"cell {row['arch_index']}: lodo {row['lodo_acc']} val {row['val_acc']}", flush=True)
    print(json.dumps(summary(args.table)))


if __name__ == "__main__":
    main()
