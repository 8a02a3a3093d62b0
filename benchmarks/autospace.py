"""AutoSpace-style learned space vs the hand-made space, at the same search budget and MAdds limit.

Per seed (CPU profile, Fashion-MNIST shift suite, training domains only during search):

1. evolve a learned space (``archscout.autospace.evolve``, algorithms.md §13.3 recipe) under the MAdds
   limit: per layer the top-2 cells; its time is reported apart (the one-off cost of learning a space);
2. run the same search method (first-order DARTS, 3 epochs, same settings, or GDAS) in the hand-made
   ``fbnet-small`` space (9 FBNet blocks per layer on the same skeleton) and in the learned space, each
   deriving the most probable architecture within the MAdds limit;
3. retrain each found arch with ``archscout.train`` (ERM, training-domain validation) and report the
   in-distribution accuracy (held-out part of the training domains) and the out-of-distribution accuracy
   (the unseen test domain), MAdds, batch-1 CPU latency (1 thread, median) and search time;
4. train ``--random`` random archs sampled uniformly from each space within the MAdds limit, same ERM:
   mean accuracies.

Then the NB201 tabular check (ground truth known; no training): learned per-edge op sets vs the full
space at equal query budget under a raspi4 latency limit.

Usage: ``python benchmarks/autospace.py [--seeds 0 1 2] [--method darts|gdas] [--quick] [--out FILE]``
(``--quick``: one seed, the CI profile, 2 epochs, 1 random arch: checks the plumbing only).

Measured 2026-11-23 on the shared 2-core CPU machine (torch 2.13, 1 thread; fmnist-shift/style, 500 images per
domain, MAdds limit 500k, seeds 0-2, retrain 8 epochs; accuracy %, mean ± sd over seeds; latency is noisy
under load). "Equal search budget" = the same epochs and images; wall-clock differs (9 candidates per
layer in the hand-made supernet, 2 in the learned one):

=====================  ============  ============  =======  ========  =====
space / what           ID acc        OoD acc       MAdds    search s  n
=====================  ============  ============  =======  ========  =====
hand, DARTS found      69.59 ± 0.81  69.07 ± 1.55  458,475  46.9      3
learned, DARTS found   73.40 ± 1.77  68.27 ± 3.37  383,296  7.7       3
hand, GDAS found       62.62 ± 2.74  63.53 ± 3.60  405,312  5.7       3
learned, GDAS found    73.40 ± 1.78  69.60 ± 1.11  383,296  4.1       3
hand, random           65.13 ± 2.14  65.16 ± 2.49  316,992  -         9
learned, random        72.51 ± 1.88  69.47 ± 0.83  406,052  -         9
=====================  ============  ============  =======  ========  =====

Evolution (learning the space, per seed): 40-92 s. Batch-1 CPU latency of the found archs: hand 0.96 ms,
learned 1.39 ms (DARTS; the learned cells' many small ops cost more per MAdd on a CPU).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from archscout.autospace import (EvolveConfig, SmallOneShotConfig, TabularConfig, compare, evolve, format_comparison,
                                 oneshot_search)
from archscout.data import load_split
from archscout.spaces import get_space
from archscout.train import TrainConfig, train


def retrain(space, arch, data, epochs: int, seed: int) -> dict:
    r = train(space.name, arch, data, TrainConfig(epochs=epochs, batch_size=64, lr=0.05, seed=seed, threads=1))
    return {"arch": space.to_str(arch), "id_acc": r.id_acc, "ood_acc": r.ood_acc, "macs": space.macs(arch),
            "latency_ms": space.latency_ms(arch, repeats=30), "train_s": r.seconds}


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else float("nan")


def sd(xs):
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--method", default="darts", choices=("darts", "gdas"))
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--split", default="style")
    p.add_argument("--per-domain", type=int, default=500)
    p.add_argument("--budget-madds", type=float, default=500_000)
    p.add_argument("--search-epochs", type=int, default=3)
    p.add_argument("--train-epochs", type=int, default=8)
    p.add_argument("--random", type=int, default=3, help="random archs per space and seed")
    p.add_argument("--evolve", nargs="*", default=[], metavar="KEY=VALUE",
                   help="EvolveConfig overrides, e.g. ref_anchor=false top_k=3")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="write all figures as JSON")
    args = p.parse_args()
    torch.set_num_threads(1)
    evo_over = {}
    if args.quick:
        args.seeds, args.train_epochs, args.random, args.search_epochs = args.seeds[:1], 2, 1, 1
        args.per_domain = min(args.per_domain, 200)
        evo_over = {"iterations": 2, "steps_per_iter": 10, "warmup_steps": 2, "train_images": 256, "val_images": 256}
    for item in args.evolve:
        k, _, v = item.partition("=")
        evo_over[k] = {"true": True, "false": False}.get(v.lower(), v)
        for conv in (int, float):
            try:
                evo_over[k] = conv(v)
                break
            except ValueError:
                pass
    data = load_split(args.suite, args.split, per_domain=args.per_domain, size=16)
    hand = get_space("fbnet-small")
    B = args.budget_madds
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        evo = evolve(data, EvolveConfig(**evo_over, budget_madds=B, seed=seed, threads=1),
                     name=f"bench-learned-s{seed}")
        learned = evo.space
        row = {"seed": seed, "evolution_s": time.perf_counter() - t0, "learned": learned.to_dict()}
        print(f"[seed {seed}] evolution {row['evolution_s']:.1f} s\n{learned.summary()}", flush=True)
        cfg = SmallOneShotConfig(method=args.method, epochs=args.search_epochs, seed=seed,
                                 train_images=evo.space.info["config"]["train_images"],
                                 val_images=evo.space.info["config"]["val_images"])
        for key, space in (("hand", hand), ("learned", learned)):
            res = oneshot_search(space, data, cfg, max_macs=B)
            found = retrain(space, res["arch"], data, args.train_epochs, seed)
            found["search_s"] = res["seconds"]
            rng = np.random.default_rng([seed, 99])
            rand = [retrain(space, space.sample_within(rng, B), data, args.train_epochs, seed)
                    for _ in range(args.random)]
            row[key] = {"found": found, "random": rand}
            print(f"[seed {seed}] {key:8s} found {found['arch']!r}: id {found['id_acc']:.2f} ood {found['ood_acc']:.2f} "
                  f"MAdds {found['macs']:,} lat {found['latency_ms']:.3f} ms search {found['search_s']:.1f} s | "
                  f"random id {mean([r['id_acc'] for r in rand]):.2f} ood {mean([r['ood_acc'] for r in rand]):.2f}",
                  flush=True)
        rows.append(row)
        if args.out:  # after every seed: an interrupted benchmark keeps what it measured
            Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1, default=str))

    print(f"\n== AutoSpace-style learned space vs hand-made fbnet-small: {args.suite}/{args.split}, "
          f"{args.method} ({args.search_epochs} epochs), MAdds limit {B:,.0f}, {len(rows)} seed(s), "
          f"retrain {args.train_epochs} epochs (ERM, training-domain validation) ==")
    head = f"{'space':<10}{'what':<8}{'ID acc':>14}{'OoD acc':>14}{'MAdds':>10}{'lat ms':>9}{'search s':>10}"
    print(head)
    for key in ("hand", "learned"):
        f = [r[key]["found"] for r in rows]
        rnd = [x for r in rows for x in r[key]["random"]]
        print(f"{key:<10}{'found':<8}{mean([x['id_acc'] for x in f]):>8.2f} ± {sd([x['id_acc'] for x in f]):<4.2f}"
              f"{mean([x['ood_acc'] for x in f]):>8.2f} ± {sd([x['ood_acc'] for x in f]):<4.2f}"
              f"{mean([x['macs'] for x in f]):>10,.0f}{mean([x['latency_ms'] for x in f]):>9.3f}"
              f"{mean([x['search_s'] for x in f]):>10.1f}")
        print(f"{key:<10}{'random':<8}{mean([x['id_acc'] for x in rnd]):>8.2f} ± {sd([x['id_acc'] for x in rnd]):<4.2f}"
              f"{mean([x['ood_acc'] for x in rnd]):>8.2f} ± {sd([x['ood_acc'] for x in rnd]):<4.2f}"
              f"{mean([x['macs'] for x in rnd]):>10,.0f}{mean([x['latency_ms'] for x in rnd]):>9.3f}{'':>10}")
    print(f"evolution (learning the space, once per seed): {mean([r['evolution_s'] for r in rows]):.1f} s mean")

    tab = compare(TabularConfig(), seeds=tuple(range(10)) if not args.quick else (0, 1, 2), budget=30)
    print("\n" + format_comparison(tab))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "tabular": tab["summary"]}, indent=1,
                                             default=str))


if __name__ == "__main__":
    main()
