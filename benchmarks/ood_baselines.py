"""ERM baselines in and out of distribution: three NB201 cells trained from scratch on fmnist-shift.

Trains NB201's ResNet-like cell (index 11472), the all-3x3-conv cell (1462) and the best CIFAR-10
cell of the NB201 table (highest ``valid_acc`` in the cifar10-valid setting: the search signal, never
the test accuracy) on the ``correlation`` and ``rotation`` splits, 3 seeds each, with the default
``TrainConfig`` and training-domain validation. Prints in-distribution accuracy (training domains'
held-out 20 %), out-of-distribution accuracy (the unseen test domain), mean ± sample std over seeds,
params and training throughput. Usage:
``python benchmarks/ood_baselines.py [--quick] [--seeds 3] [--epochs N] [--threads 1] [--json]``
(``--quick``: digits-shift, small nets, 8 epochs, under a minute).

One torch thread by default, the setting that holds up when the 2 cores are shared: for cell 11472
on the correlation split, two threads gave 2,233-2,585 images/s on a quiet machine against 1,420-1,446
for one, but 116-629 against 1,546-1,622 on a busy one (each step waits for the descheduled thread).
The default run took 21 min on the busy machine; ``--threads 2`` is faster where the cores are free.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from archscout.data import load_split
from archscout.hardware import get_cost_model
from archscout.spaces import get_space
from archscout.train import TrainConfig, train_seeds

SPLITS = ("correlation", "rotation")


def best_cifar10_cell() -> tuple[int, float, float]:
    """NB201 index of the best cell by validation accuracy (cifar10-valid), with its valid/test accuracy."""
    bench = get_cost_model("nb201", "cifar10")
    valid, test = bench.column("valid_acc"), bench.column("test_acc")
    i = int(np.nanargmax(valid))
    return i, float(valid[i]), float(test[i])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="digits-shift, C=8 nets, 8 epochs (under a minute)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="default: TrainConfig's (8 with --quick)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    best, best_valid, best_test = best_cifar10_cell()
    archs = {"ResNet-like": 11472, "all-3x3": 1462, "best-C10": best}
    suite = "digits-shift" if args.quick else "fmnist-shift"
    cfg = TrainConfig(threads=args.threads)
    if args.quick:
        cfg = TrainConfig(epochs=args.epochs or 8, batch_size=32, net={"C": 8, "N": 1}, threads=args.threads)
    elif args.epochs:
        cfg = TrainConfig(epochs=args.epochs, threads=args.threads)
    space = get_space("nb201")
    say = (lambda *a: None) if args.json else print
    say(f"suite {suite}, TrainConfig epochs={cfg.epochs} batch={cfg.batch_size} lr={cfg.lr} "
        f"net={cfg.net_config('nb201')} threads={args.threads}, seeds 0..{args.seeds - 1}, "
        f"selection: training-domain validation")
    say(f"best-C10 = NB201 #{best} (cifar10-valid: valid {best_valid:.2f} %, test {best_test:.2f} %): "
        f"{space.to_str(space.from_index(best))}")
    say(f"{'cell':12} {'#':>5} {'split':12} {'ID acc %':>13} {'OoD acc %':>13} {'gap':>6} {'params':>8} "
        f"{'img/s':>6} {'time s':>7}")
    rows = []
    start = time.perf_counter()
    for split in SPLITS:
        data = load_split(suite, split)
        for label, index in archs.items():
            s = train_seeds("nb201", index, data, cfg, seeds=range(args.seeds))
            row = {"cell": label, "index": index, "split": split, "suite": data.name,
                   "train_domains": list(data.split.train), "test_domains": list(data.split.test),
                   **{k: s[k] for k in ("id_acc", "ood_acc", "throughput", "params", "seconds", "selection_rule")},
                   "selected_epochs": [r.selected_epoch for r in s["runs"]]}
            rows.append(row)
            ia, oa = s["id_acc"], s["ood_acc"]
            say(f"{label:12} {index:>5} {split:12} {ia['mean']:6.2f} ± {ia['std']:4.2f} {oa['mean']:6.2f} ± "
                f"{oa['std']:4.2f} {ia['mean'] - oa['mean']:6.2f} {s['params']:>8,} {s['throughput']['mean']:6.0f} "
                f"{s['seconds']:7.1f}", flush=True)
    total = time.perf_counter() - start
    say(f"total {total:.0f} s")
    report = {"suite": suite, "config": cfg.to_dict(), "seeds": args.seeds, "best_c10": best, "rows": rows,
              "seconds": total}
    if args.json:
        print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
