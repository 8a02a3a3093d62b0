"""Can NAS-OoD's cpu profile learn on the main job's task with more architecture steps? Its schedule
settings only (``--set arch_lr=0.003 --set epochs=24``; the update rules stay as published): the search
of the main job (default task, raspi4 <= 20 ms unless ``--no-target``), then the final edge entropy
against uniform's, whether it is 5 % or more below (the main job's ``learned``), the most probable op
per edge and the derived cell.

    python benchmarks/nasood_schedule.py --set arch_lr=0.003 --set epochs=24 [--seed 0] [--no-target]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from archscout.oneshot import OpCost, get_method
from archscout.pipeline import MainJobConfig, load_data, search_config
from archscout.spaces import get_space


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="NASOODConfig field (JSON value)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-target", action="store_true", help="no latency target (the architecture loss alone)")
    p.add_argument("--run-dir", default="runs/nasood-schedule")
    args = p.parse_args()
    over = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg = MainJobConfig(method="nasood", search_overrides=over)
    target = None if args.no_target else cfg.max_latency
    cost = OpCost.fit("nb201", cfg.device).with_target(target)
    name = "-".join([f"{k}{v}" for k, v in sorted(over.items())] + [f"s{args.seed}"] + (["notarget"] if args.no_target else []))
    r = get_method("nasood").search("nb201", load_data(cfg), search_config("nasood", cfg, args.seed), cost=cost,
                                    run_dir=f"{args.run_dir}/{name}", progress=True)
    dist = np.asarray(r.distribution)
    ops = get_space("nb201").ops_names
    final, uniform = r.history[-1]["entropy"], math.log(dist.shape[-1])
    print(json.dumps({"settings": over, "seed": args.seed, "target_ms": target,
                      "epochs": r.history[-1]["epoch"], "entropy": [round(h["entropy"], 4) for h in r.history],
                      "entropy_drop_pct": round(100 * (1 - final / uniform), 2), "learned": final <= 0.95 * uniform,
                      "most_probable": [f"{ops[int(i)]} {dist[e, i]:.2f}" for e, i in enumerate(dist.argmax(1))],
                      "arch_index": r.arch_index, "arch": r.arch_str, "seconds": round(r.seconds)}))


if __name__ == "__main__":
    main()
