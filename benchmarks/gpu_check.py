"""What a GPU buys: one script, about 8 minutes on one GPU, that prints

1. the NB201 DARTS supernet step (C=16, N=5, batch 64, 32x32; one weight and one architecture step),
   seconds per step on 2 CPU cores and on the GPU, fp32 and bf16, and the speed-ups;
2. one DARTS and one GDAS search (paper profile) on fmnist-shift's ``style`` training domains with
   NB201's published number of architecture steps, or as many as ``--search-seconds`` allow: final
   edge entropy, the derived cell, collapsed or not (at most one convolution on the cell's
   input-output paths, as in ``oneshot_nb201.py``);
3. one main job at the paper profile's sizes (C=16, N=5, 32x32, the paper's search profiles) with
   trainings cut to 4 epochs: seconds per stage.

Without a GPU it prints one line saying so and exits 0. ``--accelerator cpu --tiny`` runs every part at
toy sizes on the CPU (what the test does, to keep the script working where CI has no GPU).

    python benchmarks/gpu_check.py [--out gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

from archscout._accelerator import describe as compute, resolve
from archscout.data import load_split
from archscout.oneshot import get_method, get_profile
from oneshot_nb201 import describe as cell

# NB201's searches: CIFAR-10 train split in two halves of 25,000 images, batch 64 -> 391 steps an epoch
PUBLISHED_EPOCHS = {"darts": 50, "gdas": 240}
PUBLISHED_STEPS = {m: e * math.ceil(25_000 / 64) for m, e in PUBLISHED_EPOCHS.items()}


def step_seconds(data, accelerator: str, precision: str, steps: int, threads: int | None, tiny: bool) -> float:
    """Seconds per DARTS step (weight + architecture) in the second of two short epochs (the first warms up)."""
    size = {"C": 4, "N": 1, "image_size": 8} if tiny else {}
    cfg = get_profile("darts", "paper", epochs=2, batch_size=64, train_images=64 * steps, val_images=64 * steps,
                      accelerator=accelerator, precision=precision, threads=threads, **size)
    history = get_method("darts").search("nb201", data, cfg).history
    return history[-1]["seconds"] / steps


def search(method: str, data, accelerator: str, budget_s: float, tiny: bool, run_dir: Path) -> dict:
    """A paper-profile search with NB201's published number of architecture steps, or as many epochs as
    ``budget_s`` allows (timed on a one-epoch probe)."""
    size = {"C": 4, "N": 1, "image_size": 8, "train_images": 128, "val_images": 128} if tiny else {}
    cfg = get_profile(method, "paper", epochs=1, accelerator=accelerator, **size)
    epoch_s = get_method(method).search("nb201", data, cfg).history[0]["seconds"]
    half = sum(len(d) for d in data.train) // 2
    steps = max(1, min(half, cfg.train_images or half, cfg.val_images or half) // cfg.batch_size)
    epochs = max(1, min(math.ceil(PUBLISHED_STEPS[method] / steps), int(budget_s // max(epoch_s, 1e-9))))
    epochs = min(epochs, 2) if tiny else epochs
    start = time.perf_counter()
    r = get_method(method).search("nb201", data, get_profile(method, "paper", epochs=epochs, accelerator=accelerator,
                                                             **size), run_dir=run_dir / method)
    c = cell(r.arch_index, "raspi4")
    return {"method": method, "epochs": epochs, "arch_steps": epochs * steps,
            "published_arch_steps": PUBLISHED_STEPS[method], "seconds": round(time.perf_counter() - start, 1),
            "entropy_final": r.history[-1].get("entropy"), "entropy_uniform": round(math.log(5), 4),
            "arch": r.arch_str, "arch_index": r.arch_index, "collapsed": c["collapsed"],
            "convolutions_on_paths": c["convs"], "nb201_cifar10_test_acc": c["acc"]["cifar10"]}


def main_job(accelerator: str, tiny: bool, run_dir: Path) -> dict:
    from archscout.pipeline import MainJobConfig, run_main_job

    if tiny:
        cfg = MainJobConfig(suite="digits-shift", profile="smoke", accelerator=accelerator, run_dir=str(run_dir),
                            random_baselines=1, workers=1)
    else:  # the paper profile's network and images; epochs cut so that the whole job takes minutes
        cfg = MainJobConfig(profile="paper", accelerator=accelerator, run_dir=str(run_dir), workers=1,
                            train_overrides={"epochs": 4})
    start = time.perf_counter()
    job = run_main_job(cfg)
    return {"seconds": round(time.perf_counter() - start, 1), "stage_seconds": job["stage_seconds"],
            "arch": job["arch"], "ood_acc": job["ood_acc"], "train_config": job["train_config"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accelerator", default="auto", help="auto: the GPU, if there is one (else: a line, exit 0)")
    p.add_argument("--tiny", action="store_true", help="every part at toy sizes (the CPU test)")
    p.add_argument("--search-seconds", type=float, default=120.0, help="time cap of each of the two searches")
    p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    if args.accelerator == "auto" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU here (torch {torch.__version__}); nothing to measure")
        return
    device = resolve(args.accelerator)
    out: dict = {"compute": compute(device)}
    data = load_split("digits-shift" if args.tiny else "fmnist-shift", "style", size=8 if args.tiny else 32)

    steps = 2 if args.tiny else 5
    cpu = step_seconds(data, "cpu", "fp32", steps, 2, args.tiny)
    rows = {"cpu (2 threads), fp32": cpu}
    for precision in ("fp32", "bf16"):
        rows[f"{device}, {precision}"] = step_seconds(data, str(device), precision, 4 * steps if args.tiny else 50,
                                                      None, args.tiny)
    out["darts_step"] = {k: {"seconds": round(v, 5), "speedup_vs_cpu": round(cpu / v, 1)} for k, v in rows.items()}
    print("NB201 DARTS supernet step (C=16, N=5, batch 64, 32x32; weight + architecture step):")
    for k, v in out["darts_step"].items():
        print(f"  {k:28s} {v['seconds'] * 1000:9.1f} ms   x{v['speedup_vs_cpu']}")

    with tempfile.TemporaryDirectory() as tmp:
        out["searches"] = [search(m, data, str(device), args.search_seconds, args.tiny, Path(tmp)) for m in ("darts", "gdas")]
        for s in out["searches"]:
            print(f"{s['method']}: {s['arch_steps']} of {s['published_arch_steps']} published architecture steps "
                  f"({s['epochs']} epochs, {s['seconds']:.0f} s); entropy {s['entropy_final']:.3f} of "
                  f"{s['entropy_uniform']:.3f}; cell {s['arch_index']} {s['arch']}; "
                  f"{'COLLAPSED' if s['collapsed'] else 'not collapsed'} (NB201 CIFAR-10 {s['nb201_cifar10_test_acc']:.2f})")
        out["main_job"] = main_job(str(device), args.tiny, Path(tmp) / "runs")
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in out["main_job"]["stage_seconds"].items())
    print(f"main job (paper network size): {out['main_job']['seconds']:.0f} s in all; {stages}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
