"""OoD-Bench shift metrics of the fmnist-shift splits: diversity and correlation, mean ± std over trials.

Expected ordering (the acceptance check): ``correlation`` has correlation >> diversity, ``rotation``
and ``style`` have diversity >> correlation, ``iid`` has both near zero (the calibration band,
0.005-0.01, is where an iid version of each split's data is put). Both formulas come from the same
run (the thresholds are calibrated for each). Run: ``python benchmarks/shift_metrics.py``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from archscout.data import ShiftMetricsConfig, load_split, measure_shift


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="fmnist-shift")
    ap.add_argument("--splits", default="iid,correlation,rotation,style")
    ap.add_argument("--trials", type=int, default=ShiftMetricsConfig.trials)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim-z", type=int, default=ShiftMetricsConfig.dim_z)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a busy machine).")
    ap.add_argument("--json", default=None, help="Also write every result's to_dict() to this file.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = ShiftMetricsConfig(trials=args.trials, seed=args.seed, dim_z=args.dim_z)
    print(f"{args.suite}, {args.trials} trials from seed {args.seed}, backbone {config.backbone}, "
          f"torch threads {torch.get_num_threads()}")
    print("| split | diversity | correlation | diversity (legacy) | correlation (legacy) | eps_div / eps_cor "
          "| iid at calibration (div / cor) | p-vs-q acc. | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for split in args.splits.split(","):
        t0 = time.perf_counter()
        r = measure_shift(load_split(args.suite, split), config=config).to_dict()
        r["seconds"] = time.perf_counter() - t0  # with loading
        results.append(r)
        leg = r["other_formula"]
        cal = r["calibration"]

        def ms(v: dict) -> str:
            return f"{v['mean']:.4f} ± {v['std']:.4f}"

        acc = sum(p["env_accuracy"] for p in r["per_trial"]) / len(r["per_trial"])
        print(f"| {split} | {ms(r['diversity'])} | {ms(r['correlation'])} | {ms(leg['diversity'])} | "
              f"{ms(leg['correlation'])} | {r['thresholds']['eps_div']:.2g} / {r['thresholds']['eps_cor']:.2g} | "
              f"{cal['iid_diversity']:.4f} / {cal['iid_correlation']:.4f}{'' if cal['converged'] else ' (off band)'} "
              f"| {acc:.3f} | {r['seconds']:.0f} s |", flush=True)
    by = {r["split"]: r for r in results}
    print()
    expected = {"correlation": ("correlation", "diversity"), "rotation": ("diversity", "correlation"),
                "style": ("diversity", "correlation")}
    for split, (big, small) in expected.items():
        if split in by:
            b, s = by[split][big]["mean"], by[split][small]["mean"]
            print(f"{split}: {big} / {small} = {b / max(s, 1e-4):.1f}" + (" (floored at 1e-4)" if s < 1e-4 else ""))
    if "iid" in by:
        lo, hi = by["iid"]["calibration"]["band"]
        d, c = by["iid"]["diversity"]["mean"], by["iid"]["correlation"]["mean"]
        print(f"iid: diversity {d:.4f}, correlation {c:.4f}; calibration band [{lo}, {hi}]; "
              f"both inside: {lo <= d <= hi and lo <= c <= hi}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
