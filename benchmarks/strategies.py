"""archscout's strategies next to Optuna's samplers on NB201, same seeds, one process (issue 3's targets).

1. One objective (validation accuracy) on CIFAR-10, CIFAR-100 and ImageNet16-120: median queries to
   the best-valid arch and mean regret at 50, 100 and 300 queries. Target: ``--ours`` needs fewer
   queries than Optuna's default TPE (multivariate) and has lower regret at 50, 100 and 300, on
   every dataset.
2. Two objectives (valid error, latency) on CIFAR-10 for raspi4, edgegpu, eyeriss and fpga:
   hypervolume ratio at 50, 100, 200, 500 queries and share of the exact front found by 500.
   Target: ``--ours-mo`` beats NSGA-II and MO-TPE at 100 and 200, with twice their front share.
3. The engine's own overhead per trial (storage + bookkeeping + tabular evaluator), SQLite and
   in memory (``benchmarks/engine_overhead.py``).

Usage: python benchmarks/strategies.py [--seeds 50] [--jobs 2] [--part so,mo,overhead]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

from archscout.experiment import TabularTask, bench_strategies, run_bench
from archscout.report import bench_table

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
DEVICES = ("raspi4", "edgegpu", "eyeriss", "fpga")
SO_PEERS = ("optuna-tpe", "optuna-tpe-independent", "optuna-random", "random")
MO_PEERS = ("optuna-nsga2", "optuna-tpe")


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def single_objective(args, console: Console, report: dict) -> bool:
    names = list(dict.fromkeys(bench_strategies("all", 1) + list(SO_PEERS)))
    all_ok = True
    for dataset in DATASETS:
        task = TabularTask.create("nb201", dataset, ["valid_acc"])
        result = run_bench(task, names, list(range(args.seeds)), args.budget, jobs=args.jobs)
        console.print(bench_table(result))
        s = result.summary()
        report[f"so/{dataset}"] = s
        ours, tpe = s[args.ours], s["optuna-tpe"]
        inf = float("inf")
        q_ours, q_tpe = ours["median_queries_to_best"] or inf, tpe["median_queries_to_best"] or inf
        checks = {"median queries": q_ours < q_tpe}
        checks |= {f"regret@{b}": ours["regret"][b]["mean"] < tpe["regret"][b]["mean"] for b in ("50", "100", "300")
                   if b in ours["regret"]}
        all_ok &= all(checks.values())
        console.print(f"{dataset}: {args.ours} vs optuna-tpe: median queries {q_ours:g} vs {q_tpe:g}; " + "; ".join(
            f"{k} {ours['regret'][k[7:]]['mean']:.3f} vs {tpe['regret'][k[7:]]['mean']:.3f} {verdict(v)}"
            if k.startswith("regret") else f"{k} {verdict(v)}" for k, v in checks.items()))
    return all_ok


def multi_objective(args, console: Console, report: dict) -> bool:
    names = list(dict.fromkeys(bench_strategies("all", 2) + list(MO_PEERS)))
    all_ok = True
    for device in DEVICES:
        task = TabularTask.create("nb201", "cifar10", ["valid_error", f"latency@{device}"])
        result = run_bench(task, names, list(range(args.seeds)), args.mo_budget, jobs=args.jobs)
        console.print(bench_table(result))
        s = result.summary()
        report[f"mo/{device}"] = s
        ours = s[args.ours_mo]
        checks = {}
        for b in (b for b in ("100", "200") if b in ours["hypervolume_ratio"]):
            best_peer = max(s[p]["hypervolume_ratio"][b]["mean"] for p in MO_PEERS)
            checks[f"HV@{b} {ours['hypervolume_ratio'][b]['mean']:.4f} vs {best_peer:.4f}"] = \
                ours["hypervolume_ratio"][b]["mean"] > best_peer
        peer_share = max(s[p]["front_share"]["mean"] for p in MO_PEERS)
        checks[f"front share {ours['front_share']['mean']:.1%} vs 2 x {peer_share:.1%}"] = \
            ours["front_share"]["mean"] >= 2 * peer_share
        all_ok &= all(checks.values())
        console.print(f"{device} ({len(task.front)} front archs): {args.ours_mo} vs peers: "
                      + "; ".join(f"{k} {verdict(v)}" for k, v in checks.items()))
    return all_ok


def overhead(args, console: Console, report: dict) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import engine_overhead

    report["overhead"] = engine_overhead.main(console=console)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--mo-budget", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--ours", default="guided-ls", help="archscout's single-objective strategy checked")
    parser.add_argument("--ours-mo", default="mo-ls", help="archscout's Pareto strategy checked")
    parser.add_argument("--part", default="so,mo,overhead")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/strategies.json"))
    args = parser.parse_args()
    console = Console(width=max(Console().width, 120))
    report: dict = {"seeds": args.seeds, "budget": args.budget, "mo_budget": args.mo_budget}
    parts = args.part.split(",")
    t0 = time.perf_counter()
    if "so" in parts:
        report["so_target"] = single_objective(args, console, report)
    if "mo" in parts:
        report["mo_target"] = multi_objective(args, console, report)
    if "overhead" in parts:
        overhead(args, console, report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    console.print(f"targets: single objective {verdict(report.get('so_target', False))}, "
                  f"Pareto {verdict(report.get('mo_target', False))}; {time.perf_counter() - t0:.0f} s; "
                  f"figures in {args.out}")


if __name__ == "__main__":
    main()
