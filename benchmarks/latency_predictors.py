"""Latency predictors on NB201: HW-NAS-Bench (cifar10) latencies and HELP devices.

Train on 100 random archs (with data), test on the rest, 5 seeds; noise ceiling from cifar10 vs
cifar100 latencies of the same archs; then leave-one-device-out few-shot: 20 archs, 5 seeds,
few-shot against the FLOPs fit, the linear reference and an additive model from scratch, with
PASS/FAIL lines for the targets. ``fewshot`` is the transfer predictor with the OTHER shipped
devices' tables as prior (``fewshot_reference``: never the target device's own table, nor another
batch size of it). Devices measured or imported on this machine are left out.
Run: python benchmarks/latency_predictors.py
"""

from __future__ import annotations

import time

import numpy as np

from archscout.hardware import NB201Bench
from archscout.hardware._devices import device_of
from archscout.hardware._measured import local_devices
from archscout.hardware._nb201 import HWNB_NB201_METRICS
from archscout.hardware._predictors import evaluate, fewshot_reference, get_predictor
from archscout.spaces import get_space

SEEDS, N_TRAIN, N_FEW = 5, 100, 20
PREDICTORS = ("linear", "additive", "gbm", "structure", "flops", "fewshot", "stacked")
STRICT = ("edgegpu_latency", "raspi4_latency", "pixel3_latency", "eyeriss_latency", "fpga_latency")


def main() -> None:
    t0 = time.time()
    ops = get_space("nb201").ops_table.astype(np.int64)
    c10, c100 = NB201Bench("cifar10"), NB201Bench("cifar100")
    metrics = [m for m in HWNB_NB201_METRICS if m.endswith("_latency")]
    metrics += [m for m in c10.metrics if "_latency" in m and m not in metrics and not m.endswith("_predicted")
                and device_of(m) not in local_devices()]  # the shipped tables only
    flops = c10.column("flops")
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'metric':24s} {'pred':9s} {'spearman':>8s} {'kendall':>8s} {'±10%':>6s}   ceiling")

    def reference(m: str) -> np.ndarray:
        return fewshot_reference(c10, m, among=metrics)[1]

    for m in metrics:
        y = c10.column(m)
        ok = np.flatnonzero(np.isfinite(y))
        ceil = "n/a"
        if m in c100.metrics:
            y2 = c100.column(m)
            both = np.isfinite(y) & np.isfinite(y2)
            ceil = f"{evaluate(y[both], y2[both])['spearman']:.3f}"
        results[m] = {}
        for name in PREDICTORS:
            runs = []
            for seed in range(SEEDS):
                rng = np.random.default_rng(seed)
                tr = rng.choice(ok, N_TRAIN, replace=False)
                te = np.setdiff1d(ok, tr)
                kw = {"flops": {"flops": flops}, "fewshot": {"reference": reference(m), "flops": flops},
                      "stacked": {"reference": reference(m), "flops": flops}}.get(name, {})
                p = get_predictor(name, **kw).fit(ops[tr], y[tr])
                runs.append(evaluate(y[te], p.predict(ops[te])))
            r = {k: float(np.mean([x[k] for x in runs])) for k in runs[0]}
            results[m][name] = r
            print(f"{m:24s} {name:9s} {r['spearman']:8.3f} {r['kendall']:8.3f} {r['within_10pct']:6.3f}"
                  f"   {ceil if name == PREDICTORS[0] else ''}")

    print(f"\n-- few-shot: leave one device out, {N_FEW} measured archs, {SEEDS} seeds (Spearman on the rest, "
          "mean ± sd over seeds); prior = the other devices' tables")
    few = ("fewshot", "flops", "linear", "scratch")
    print(f"{'metric':24s} " + " ".join(f"{n:>13s}" for n in few))
    fewshot: dict[str, dict[str, np.ndarray]] = {}  # metric -> predictor -> Spearman per seed
    for m in metrics:
        y = c10.column(m)
        ref = reference(m)
        ok = np.flatnonzero(np.isfinite(y))
        runs: dict[str, list[float]] = {n: [] for n in few}
        for seed in range(SEEDS):
            rng = np.random.default_rng(100 + seed)
            tr = rng.choice(ok, N_FEW, replace=False)
            te = np.setdiff1d(ok, tr)
            fitted = {"fewshot": get_predictor("fewshot", reference=ref, flops=flops),
                      "flops": get_predictor("flops", flops=flops), "linear": get_predictor("linear"),
                      "scratch": get_predictor("additive", method="ridge", alpha=1e-2)}
            for n, p in fitted.items():
                runs[n].append(evaluate(y[te], p.fit(ops[tr], y[tr]).predict(ops[te]))["spearman"])
        fewshot[m] = {n: np.array(v) for n, v in runs.items()}
        print(f"{m:24s} " + " ".join(f"{np.mean(v):7.3f}±{np.std(v):.3f}" for v in fewshot[m].values()))
    by_seed = np.mean([fewshot[m]["fewshot"] for m in metrics], axis=0)  # mean over devices, per seed
    print(f"{'mean over devices':24s} " + " ".join(
        f"{np.mean(v):7.3f}±{np.std(v):.3f}" for v in (np.mean([fewshot[m][n] for m in metrics], axis=0)
                                                      for n in few)))

    print("\n-- targets")
    for m in metrics:
        best = max(PREDICTORS, key=lambda n: results[m][n]["spearman"])
        beats = results[m][best]["spearman"] > results[m]["linear"]["spearman"]
        print(f"{'PASS' if beats else 'FAIL'} {m}: a non-reference predictor beats linear "
              f"(best {best} {results[m][best]['spearman']:.4f}, linear {results[m]['linear']['spearman']:.4f})")
    for m in STRICT:
        best = max(results[m][n]["spearman"] for n in PREDICTORS)
        print(f"{'PASS' if best >= 0.95 else 'FAIL'} {m}: best Spearman {best:.3f} >= 0.95")
    dev = {m: float(np.mean(fewshot[m]["fewshot"])) for m in metrics}
    worst = min(dev, key=dev.get)
    gap = {m: dev[m] - float(np.mean(fewshot[m]["flops"])) for m in metrics}
    tight = min(gap, key=gap.get)
    mf, ms = float(np.mean(by_seed)), float(np.mean([np.mean(fewshot[m]["scratch"]) for m in metrics]))
    print(f"{'PASS' if mf >= 0.95 else 'FAIL'} few-shot ({N_FEW} archs) mean Spearman {mf:.3f} >= 0.95 "
          f"(sd over {SEEDS} seeds {np.std(by_seed):.3f}, range {by_seed.min():.3f}-{by_seed.max():.3f})")
    low = [m for m in metrics if dev[m] < 0.90]
    print(f"{'PASS' if not low else 'FAIL'} few-shot >= 0.90 on every device: lowest {worst} {dev[worst]:.3f} "
          f"± {np.std(fewshot[worst]['fewshot']):.3f}" + (f"; below: {', '.join(low)}" if low else ""))
    behind = [m for m in metrics if gap[m] < 0]
    print(f"{'PASS' if not behind else 'FAIL'} few-shot >= the FLOPs fit on every device: smallest margin {tight} "
          f"{dev[tight]:.3f} vs {dev[tight] - gap[tight]:.3f}" + (f"; behind: {', '.join(behind)}" if behind else ""))
    print(f"{'PASS' if mf >= ms + 0.05 else 'FAIL'} few-shot {mf:.3f} clearly better than scratch {ms:.3f} (+0.05)")
    print(f"time {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
