"""One-shot methods on the NB201 space, CPU profile, over seeds: what they derive and what it is worth.

For each method and seed: a search on the training domains of a Fashion-MNIST shift split (the test
domain is never read), then the derived arch looked up in the NB201 table: 200-epoch test accuracy on
CIFAR-10 (cifar10-valid setting), CIFAR-100 and ImageNet16-120, and its latency on the target device.
A cell is flagged "collapsed" when at most one of its edges that reach the output is a convolution
(DARTS's known failure on NB201: skip/pooling cells). Then the latency target: the same searches with
``--max-latency`` on ``--device``, side by side with the unconstrained ones.

Usage: ``python benchmarks/oneshot_nb201.py [--methods darts,gdas,...] [--seeds 3] [--quick]``
(``--quick``: digits-shift and 2 epochs, to check the plumbing; ``--epochs``, ``--batch-size`` and
``--all-images`` change the schedule, e.g. GDAS with about 10,000 architecture steps:
``--methods gdas --latency-methods "" --epochs 40 --batch-size 16 --all-images``). Runs are kept
under ``--run-dir`` and re-running resumes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from archscout.data import load_split
from archscout.exceptions import ArchscoutError
from archscout.hardware import get_cost_model
from archscout.hardware._predictors import effective_ops
from archscout.oneshot import OpCost, get_method, get_profile, list_methods
from archscout.spaces import get_space

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def describe(index: int, device: str) -> dict:
    sp = get_space("nb201")
    ops = effective_ops(sp.ops_table[[index]].astype("int64"))[0]
    convs = int(sum(o in (2, 3) for o in ops))
    acc = {ds: get_cost_model("nb201", ds).query(index, ["test_acc"])["test_acc"] for ds in DATASETS}
    lat = get_cost_model("nb201", "cifar10").query(index, [f"{device}_latency"])[f"{device}_latency"]
    return {"acc": acc, "latency": lat, "convs": convs, "collapsed": convs <= 1}


def add_profile_args(p: argparse.ArgumentParser) -> None:
    """The flags that change the cpu profile's sizes and schedules (shared with gdas_reference.py)."""
    p.add_argument("--epochs", type=int, default=None, help="override the cpu profile's epochs")
    p.add_argument("--batch-size", type=int, default=None, help="override the cpu profile's batch size")
    p.add_argument("--all-images", action="store_true", help="search on all training images (no 1,024 cap)")
    p.add_argument("--set", type=setting, action="append", default=[], metavar="KEY=VALUE",
                   help="override any field of the cpu-profile config, e.g. --set N=5 (repeatable)")


def profile_overrides(args) -> dict:
    """The config overrides those flags ask for."""
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v}
    if args.all_images:
        overrides.update(train_images=None, val_images=None)
    return {**overrides, **dict(args.set)}


def check_overrides(p: argparse.ArgumentParser, methods: list[str], overrides: dict) -> None:
    """An unknown field is argparse's one-line error, before anything runs."""
    try:
        for method in methods:
            get_profile(method, "cpu", **overrides)
    except ArchscoutError as exc:
        p.error(str(exc))


def run(method: str, seed: int, args, cost: OpCost | None) -> dict:
    config = get_profile(method, "cpu", **{"seed": seed, "threads": args.threads, **profile_overrides(args)})
    data = load_split(args.suite, args.split, seed=0, size=config.image_size)
    tag = "free" if cost is None else f"{args.device}-{args.max_latency:g}ms"
    sets = "".join(f"-{k}{v}".replace("/", "_") for k, v in sorted(dict(args.set).items()))
    run_dir = Path(args.run_dir) / (f"{method}-{args.suite}-{args.split}-{tag}-e{config.epochs}-b{config.batch_size}"
                                  f"-n{config.train_images or 'all'}{sets}-s{seed}")
    result = get_method(method).search("nb201", data, config, cost=cost, run_dir=run_dir)
    return {"method": method, "seed": seed, "arch": result.arch_str, "index": result.arch_index,
            "seconds": result.seconds, **describe(result.arch_index, args.device)}


def mean_std(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):6.2f} ± {sd:5.2f}"


def setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``; the value is read as JSON where it parses (5, 0.01, null), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set {text!r}: expected KEY=VALUE, e.g. N=5")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default=",".join(list_methods()))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--split", default="style")
    p.add_argument("--device", default="raspi4")
    p.add_argument("--max-latency", type=float, default=20.0)
    p.add_argument("--latency-methods", default="darts,gdas", help="methods run again with the latency target")
    add_profile_args(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--run-dir", default="runs/bench-oneshot")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.suite, args.epochs = "digits-shift", args.epochs or 2
    methods = [m for m in args.methods.split(",") if m]
    check_overrides(p, methods, profile_overrides(args))
    rows = []
    print(f"NB201, {args.suite} / {args.split} (search on the training domains), cpu profile"
          f"{''.join(f', {k}={v}' for k, v in dict(args.set).items())}, {args.seeds} seeds; accuracy = NB201 200-epoch "
          f"test accuracy of the derived cell (table lookup)")
    print(f"{'method':8s} {'seed':>4s} {'search s':>8s} {'c10':>6s} {'c100':>6s} {'IN16':>6s} "
          f"{args.device + ' ms':>10s} {'convs':>5s}  arch")
    for method in methods:
        for seed in range(args.seeds):
            r = run(method, seed, args, None)
            rows.append(r)
            a = r["acc"]
            print(f"{method:8s} {seed:4d} {r['seconds']:8.0f} {a['cifar10']:6.2f} {a['cifar100']:6.2f} "
                  f"{a['ImageNet16-120']:6.2f} {r['latency']:10.2f} {r['convs']:5d}  {r['arch']}"
                  f"{'  [collapsed]' if r['collapsed'] else ''}", flush=True)

    print("\nper method, mean ± std over seeds")
    print(f"{'method':8s} {'c10':>15s} {'c100':>15s} {'IN16':>15s} {'search s':>15s}  collapsed")
    for method in methods:
        rs = [r for r in rows if r["method"] == method]
        accs = [mean_std([r["acc"][ds] for r in rs]) for ds in DATASETS]
        print(f"{method:8s} {accs[0]:>15s} {accs[1]:>15s} {accs[2]:>15s} "
              f"{mean_std([r['seconds'] for r in rs]):>15s}  {sum(r['collapsed'] for r in rs)}/{len(rs)}")

    latency_methods = [m for m in args.latency_methods.split(",") if m in methods]
    if not latency_methods:
        return
    cost = OpCost.fit("nb201", args.device).with_target(args.max_latency)
    print(f"\nlatency target: {args.device} <= {args.max_latency:g} ms (additive table fit: Spearman "
          f"{cost.quality['spearman']:.3f}); same seeds without / with the target")
    print(f"{'method':8s} {'seed':>4s} {'free ms':>8s} {'c10':>6s} {'target ms':>9s} {'c10':>6s}  met")
    all_met = True
    for method in latency_methods:
        for seed in range(args.seeds):
            free = next(r for r in rows if r["method"] == method and r["seed"] == seed)
            tgt = run(method, seed, args, cost)
            met = tgt["latency"] <= args.max_latency
            all_met &= met
            print(f"{method:8s} {seed:4d} {free['latency']:8.2f} {free['acc']['cifar10']:6.2f} "
                  f"{tgt['latency']:9.2f} {tgt['acc']['cifar10']:6.2f}  {'yes' if met else 'NO'}", flush=True)
    print(f"{'PASS' if all_met else 'FAIL'} every derived arch meets the target when it is set")


if __name__ == "__main__":
    main()
