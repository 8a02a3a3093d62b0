"""NAS-OoD's arch against the baselines of the main job, on a diversity split and a correlation split.

For each split, one main job (``archscout.pipeline.run_main_job``, cpu profile): NAS-OoD searches under
the latency budget on the target device, then the derived arch and the baselines (ERM on NB201's
ResNet-like cell 11472, on the best CIFAR-10 cell of the NB201 table chosen by validation accuracy,
and on the arch plain DARTS finds on the same data without a budget) are trained from scratch under the
same config for every seed, and evaluated on the held-out domain(s). Printed per split: method, arch,
params, latency on the device, in- and out-of-distribution accuracy (mean ± std over the training
seeds) and the model-selection rule (training-domain validation: the test domain is read only for the
final figures). The searches run once, with the first seed; ``--search-seeds`` repeats the whole job
with other seeds (job k trains with seeds k*n .. k*n+n-1 and searches with the first of them).

Usage: ``python benchmarks/nasood.py [--seeds 3] [--splits style-lodo-stripes,correlation] [--quick]``
(``--quick``: the smoke profile on digits, to check the plumbing). Runs are kept under ``--run-dir``;
re-running resumes them.
"""

from __future__ import annotations

import argparse

from archscout.pipeline import DEFAULT_DEVICE, DEFAULT_MAX_LATENCY, MainJobConfig, run_main_job


def fmt(mean: float, std: float | None) -> str:
    return f"{mean:6.2f} ± {std or 0.0:5.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--splits", default="style-lodo-stripes,correlation")
    p.add_argument("--seeds", type=int, default=3, help="training seeds of every arch")
    p.add_argument("--search-seeds", type=int, default=1, help="main jobs per split, with search seeds 0..n-1")
    p.add_argument("--device", default=DEFAULT_DEVICE)
    p.add_argument("--max-latency", type=float, default=DEFAULT_MAX_LATENCY)
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--run-dir", default="runs/bench-nasood")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    profile, suite = ("smoke", "digits-shift") if args.quick else ("cpu", args.suite)
    verdicts = []
    for split in [s for s in args.splits.split(",") if s]:
        for search_seed in range(args.search_seeds):
            cfg = MainJobConfig(suite=suite, split=split, device=args.device, max_latency=args.max_latency,
                                profile=profile, threads=args.threads, run_dir=args.run_dir,
                                # the searches use the first seed: job k uses seeds k*n .. k*n + n - 1
                                seeds=tuple(range(search_seed * args.seeds, (search_seed + 1) * args.seeds)),
                                name=f"nasood-{suite}-{split}-{profile}-search{search_seed}")
            r = run_main_job(cfg).result
            rows = [{"name": f"{r['method']} (budget)", **{k: r[k] for k in ("arch", "params", "latency_ms", "id_acc",
                                                                            "id_acc_std", "ood_acc", "ood_acc_std",
                                                                            "selection_rule")}}]
            rows += r["baselines"]
            print(f"\n{suite} / {split} (train {', '.join(r['data']['train_domains'])}; test "
                  f"{', '.join(r['data']['test_domains'])}), search seed {search_seed}, training seeds "
                  f"{r['seeds']}, {args.device} budget {args.max_latency:g} ms")
            print(f"{'method':28s} {'params':>8s} {'lat ms':>7s} {'in-distribution':>16s} {'out-of-distribution':>20s}"
                  f"  selection       arch")
            for row in rows:
                lat = "n/a" if row["latency_ms"] is None else f"{row['latency_ms']:.2f}"
                print(f"{row['name']:28s} {row['params']:8,d} {lat:>7s} {fmt(row['id_acc'], row['id_acc_std']):>16s} "
                      f"{fmt(row['ood_acc'], row['ood_acc_std']):>20s}  {row['selection_rule']:15s} {row['arch']}")
            best_base = max(b["ood_acc"] for b in r["baselines"])
            ok = r["ood_acc"] > best_base and (r["latency_ms"] or 0) <= args.max_latency
            verdicts.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} NAS-OoD out-of-distribution {r['ood_acc']:.2f} vs best baseline "
                  f"{best_base:.2f}, latency {r['latency_ms']:.2f} <= {args.max_latency:g} ms")
    print(f"\n{sum(verdicts)}/{len(verdicts)} runs where NAS-OoD's arch beats every baseline out of distribution "
          f"(mean over {args.seeds} training seeds) within the budget")


if __name__ == "__main__":
    main()
