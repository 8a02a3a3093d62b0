"""FBNet on this machine's CPU: does the sum of the measured lookup table rank whole networks right?

Measures FBNet's lookup table (each distinct block once, ``archscout hw measure --lut``) and
``--archs`` random whole FBNet networks end to end, with the same set-up (ONNX Runtime, one thread,
batch 1), then prints Kendall tau and Spearman between the LUT sum and the end-to-end latency, the
median ratio LUT / end-to-end, and, as the baseline, the same correlations for FLOPs.
algorithms.md §13.3 expects a high tau (e.g. > 0.8); it is reported, not asserted.

Usage: ``python benchmarks/fbnet_lut_cpu.py [--dataset cifar100] [--archs 30] [--root DIR]``
(default root: a fresh temporary folder; give one to keep, or to resume, the measurements).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from scipy import stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cifar100", choices=["cifar100", "ImageNet"])
    p.add_argument("--archs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None)
    p.add_argument("--pin-cpu", type=int, default=None)
    args = p.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="fbnet-lut-")
    os.environ["ARCHSCOUT_HOME"] = root  # the measured device lives here, not in the user's store

    from archscout.hardware import get_cost_model
    from archscout.hardware import measure_archs, measure_fbnet_lut, measurements_root
    from archscout.spaces import get_space

    sp = get_space("fbnet")
    rng = np.random.default_rng(args.seed)
    archs = [sp.to_str(sp.sample(rng)) for _ in range(args.archs)]
    kw = dict(dataset=args.dataset, root=measurements_root(), pin_cpu=args.pin_cpu)
    t0 = time.perf_counter()
    lut = measure_fbnet_lut(**kw)
    t_lut = time.perf_counter() - t0
    whole = measure_archs("fbnet", archs, **kw).set_index("key").loc[archs, "latency_ms"].to_numpy()
    t_whole = time.perf_counter() - t0 - t_lut
    device = lut.attrs["device"]
    model = get_cost_model("fbnet", args.dataset)
    q = model.query_many(archs, [f"{device}_latency", "flops"])
    summed, flops = q[f"{device}_latency"].to_numpy(), q["flops"].to_numpy()

    print(f"FBNet {args.dataset}, {device} (ONNX Runtime, 1 thread, batch 1); store {root}")
    print(f"lookup table: {len(lut)} blocks in {t_lut:.0f} s; {len(archs)} whole networks in {t_whole:.0f} s "
          f"(end-to-end {whole.min():.2f} to {whole.max():.2f} ms)")
    for name, x in (("LUT sum", summed), ("FLOPs", flops)):
        tau, rho = stats.kendalltau(x, whole)[0], stats.spearmanr(x, whole)[0]
        print(f"{name:8s} vs end-to-end: Kendall tau {tau:.3f}, Spearman {rho:.3f}")
    ratio = summed / whole
    print(f"LUT sum / end-to-end: median {np.median(ratio):.3f} (range {ratio.min():.3f} to {ratio.max():.3f})")


if __name__ == "__main__":
    main()
