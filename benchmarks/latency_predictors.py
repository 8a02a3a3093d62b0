"""Latency predictors on NB201: HW-NAS-Bench (cifar10) latencies and HELP devices.

Train on 100 random archs (with data), test on the rest, 5 seeds; noise ceiling from cifar10 vs
cifar100 latencies of the same archs; leave-one-device-out few-shot (20 archs) vs scratch.
``fewshot`` in the main table is the transfer predictor trained on the same 100 archs, with the
OTHER devices' tables as prior (never the target device's own table, nor another batch size of it).
Run: python benchmarks/latency_predictors.py
"""

from __future__ import annotations

import time

import numpy as np

from archscout.hardware import NB201Bench
from archscout.hardware._devices import device_of
from archscout.hardware._nb201 import HWNB_NB201_METRICS
from archscout.hardware._predictors import evaluate, get_predictor
from archscout.spaces import get_space

SEEDS, N_TRAIN, N_FEW = 5, 100, 20
PREDICTORS = ("linear", "additive", "gbm", "structure", "flops", "fewshot", "stacked")
STRICT = ("edgegpu_latency", "raspi4_latency", "pixel3_latency", "eyeriss_latency", "fpga_latency")


def main() -> None:
    t0 = time.time()
    ops = get_space("nb201").ops_table.astype(np.int64)
    c10, c100 = NB201Bench("cifar10"), NB201Bench("cifar100")
    metrics = [m for m in HWNB_NB201_METRICS if m.endswith("_latency")]
    metrics += [m for m in c10.metrics if "_latency" in m and m not in metrics]
    flops = c10.column("flops")
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'metric':24s} {'pred':9s} {'spearman':>8s} {'kendall':>8s} {'±10%':>6s}   ceiling")
    def reference(m: str) -> np.ndarray:
        return np.stack([c10.column(c) for c in metrics if device_of(c) != device_of(m)], axis=1)

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
                kw = {"flops": {"flops": flops}, "fewshot": {"reference": reference(m)},
                      "stacked": {"reference": reference(m)}}.get(name, {})
                p = get_predictor(name, **kw).fit(ops[tr], y[tr])
                runs.append(evaluate(y[te], p.predict(ops[te])))
            r = {k: float(np.mean([x[k] for x in runs])) for k in runs[0]}
            results[m][name] = r
            print(f"{m:24s} {name:9s} {r['spearman']:8.3f} {r['kendall']:8.3f} {r['within_10pct']:6.3f}"
                  f"   {ceil if name == PREDICTORS[0] else ''}")

    print("\n-- few-shot: leave-one-device-out, 20 measured archs, reference = all other devices' latencies")
    few_s, scratch_s = [], []
    for m in metrics:
        y = c10.column(m)
        ref = reference(m)
        ok = np.flatnonzero(np.isfinite(y))
        fs, ss = [], []
        for seed in range(SEEDS):
            rng = np.random.default_rng(100 + seed)
            tr = rng.choice(ok, N_FEW, replace=False)
            te = np.setdiff1d(ok, tr)
            few = get_predictor("fewshot", reference=ref).fit(ops[tr], y[tr])
            scr = get_predictor("additive", method="ridge", alpha=1e-2).fit(ops[tr], y[tr])
            fs.append(evaluate(y[te], few.predict(ops[te]))["spearman"])
            ss.append(evaluate(y[te], scr.predict(ops[te]))["spearman"])
        few_s.append(np.mean(fs))
        scratch_s.append(np.mean(ss))
        print(f"{m:24s} fewshot {few_s[-1]:.3f}   scratch(additive ridge) {scratch_s[-1]:.3f}")

    print("\n-- targets")
    for m in metrics:
        best = max(PREDICTORS, key=lambda n: results[m][n]["spearman"])
        beats = results[m][best]["spearman"] > results[m]["linear"]["spearman"]
        print(f"{'PASS' if beats else 'FAIL'} {m}: a non-reference predictor beats linear "
              f"(best {best} {results[m][best]['spearman']:.4f}, linear {results[m]['linear']['spearman']:.4f})")
    for m in STRICT:
        best = max(results[m][n]["spearman"] for n in PREDICTORS)
        print(f"{'PASS' if best >= 0.95 else 'FAIL'} {m}: best Spearman {best:.3f} >= 0.95")
    mf, ms = float(np.mean(few_s)), float(np.mean(scratch_s))
    print(f"{'PASS' if mf >= 0.90 else 'FAIL'} few-shot mean Spearman {mf:.3f} >= 0.90")
    print(f"{'PASS' if mf >= ms + 0.05 else 'FAIL'} few-shot {mf:.3f} clearly better than scratch {ms:.3f} (+0.05)")
    print(f"time {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
