"""Stage 3: every (cell, seed) of the searched cell and the baselines trained from scratch under one
TrainConfig, ``workers`` at once, each in its own resumable run folder; one summary entry per cell."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from archscout._procs import exit_with_parent
from archscout._rundir import RESULT, read_done
from archscout.pipeline._cells import latencies, nb201_reported, training_time
from archscout.pipeline._config import MODEL_PT, Log, MainJobConfig
from archscout.pipeline._settings import load_data

SELECTION = "training-domain"
DONE_KEYS = ("id_acc", "ood_acc", "history", "id_per_domain", "ood_per_domain", "params", "selection_rule",
             "selected_epoch", "seed", "seconds")  # what a finished training's result.json gives its entry


def _spread(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


_WORKER_DATA: dict[str, Any] = {}


def _train_job(config: MainJobConfig, index: int, cfg, tdir: Path) -> dict[str, Any]:
    """One (cell, seed) training of the main job (in a worker process: the data is loaded once)."""
    from archscout.spaces import get_space
    from archscout.train import train

    key = json.dumps(config.to_dict(), sort_keys=True)
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = load_data(config)
    data = _WORKER_DATA[key]
    return train("nb201", get_space("nb201").from_index(index), data, cfg, selection=SELECTION,
                 run_dir=tdir).to_dict()


def train_archs(config: MainJobConfig, specs: list[tuple[str, int, str]], data, tcfgs: dict[int, Any], run: Path,
                progress: bool, say: Log, tag: str, ran: list[str]) -> list[dict[str, Any]]:
    """Train every (cell, seed) of ``specs`` not finished yet, ``config.workers`` at once (finished runs are
    read back); one result.json entry per spec, in order. A cell named twice is trained once."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from archscout.train import train

    results: dict[tuple[int, int], dict[str, Any]] = {}
    todo = []
    for name, index, _ in specs:
        for seed, cfg in tcfgs.items():
            tdir = run / "train" / f"nb201-{index}" / f"seed-{seed}"
            if (index, seed) in results or any(t[1:3] == (index, seed) for t in todo):
                continue
            r = read_done(tdir / RESULT, DONE_KEYS)
            if r is not None and "degenerate" in r:  # a run older than the check is re-read by ``train``
                say(f"{tag} {name}, seed {seed}: done earlier -> in {r['id_acc']:.1f} %, out {r['ood_acc']:.1f} %")
                results[(index, seed)] = {**r, "run_dir": str(tdir)}
            else:
                todo.append((name, index, seed, cfg, tdir))

    def record(name: str, index: int, seed: int, tdir: Path, r: dict[str, Any]) -> None:
        ran.append(f"train:{index}:{seed}")
        results[(index, seed)] = {**r, "run_dir": str(tdir)}
        say(f"{tag} {name}, seed {seed}: {r['seconds']:.0f} s -> in {r['id_acc']:.1f} %, out {r['ood_acc']:.1f} % "
            f"(epoch {r['selected_epoch']}, {r['selection_rule']})")

    if todo:
        say(f"{tag}: {len(todo)} training(s) from scratch ({next(iter(tcfgs.values())).epochs} epochs each), "
            f"{min(config.workers, len(todo))} at once ...")
    if config.workers == 1 or len(todo) < 2:
        for name, index, seed, cfg, tdir in todo:
            r = train("nb201", index, data, cfg, selection=SELECTION, run_dir=tdir, progress=progress).to_dict()
            record(name, index, seed, tdir, r)
    elif todo:
        todo.sort(key=lambda t: -training_time(t[1]))  # the longest first: the last worker waits least
        with ProcessPoolExecutor(min(config.workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(_train_job, config, index, cfg, tdir): (name, index, seed, tdir)
                       for name, index, seed, cfg, tdir in todo}
            for fut in as_completed(futures):
                name, index, seed, tdir = futures[fut]
                record(name, index, seed, tdir, fut.result())
    return [{**_entry(name, index, [results[(index, s)] for s in tcfgs]), "found_by": how} for name, index, how in specs]


def mean_entry(name: str, entries: list[dict[str, Any]], how: str) -> dict[str, Any]:
    """One baseline row for several cells: the mean of their seed means (std over the cells), and which
    cells gave degenerate models."""
    from archscout.train._degenerate import summary

    out: dict[str, Any] = {k: statistics.fmean(e[k] for e in entries) for k in ("id_acc", "ood_acc")}
    out["id_acc_std"], out["ood_acc_std"] = (statistics.stdev(e[k] for e in entries) if len(entries) > 1 else None
                                             for k in ("id_acc", "ood_acc"))
    out.update(name=name, arch=None, arch_index=None, found_by=how, cells=[e["arch_index"] for e in entries],
               params=round(statistics.fmean(e["params"] for e in entries)),
               selection_rule=entries[0]["selection_rule"], latency_all=None, curve=None,
               degenerate=summary([(e["arch_index"], e["degenerate"]) for e in entries], "cell"))
    return out


def _entry(name: str, index: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    from archscout.spaces import get_space
    from archscout.train._degenerate import summary

    id_acc, id_std = _spread([r["id_acc"] for r in runs])
    ood_acc, ood_std = _spread([r["ood_acc"] for r in runs])
    lat = latencies(index)
    epochs = min(len(r["history"]) for r in runs)
    curve = []
    for e in range(epochs):
        recs = [r["history"][e] for r in runs]
        curve.append({"epoch": e + 1, "train_acc": statistics.fmean(h["train_acc"] for h in recs),
                      "id_acc": statistics.fmean(statistics.fmean(h["val"].values()) for h in recs),
                      "ood_acc": statistics.fmean(statistics.fmean(h["test"].values()) for h in recs),
                      "loss": statistics.fmean(h["loss"] for h in recs)})
    domains = runs[0]["ood_per_domain"].keys()
    return {"name": name, "arch": get_space("nb201").to_str(get_space("nb201").from_index(index)), "arch_index": index,
            "params": runs[0]["params"], "id_acc": id_acc, "ood_acc": ood_acc, "id_acc_std": id_std,
            "ood_acc_std": ood_std, "id_per_domain": {d: statistics.fmean(r["id_per_domain"][d] for r in runs)
                                                      for d in runs[0]["id_per_domain"]},
            "ood_per_domain": {d: statistics.fmean(r["ood_per_domain"][d] for r in runs) for d in domains},
            "selection_rule": runs[0]["selection_rule"], "selected_epoch": runs[0]["selected_epoch"],
            "degenerate": summary([(r["seed"], r["degenerate"]) for r in runs]),
            "disconnected": get_space("nb201").is_disconnected(get_space("nb201").from_index(index)),
            "latency_all": lat, "nb201_reported": nb201_reported(index),
            "per_seed": [{"seed": r["seed"], "id_acc": r["id_acc"], "ood_acc": r["ood_acc"],
                          "selected_epoch": r["selected_epoch"], "seconds": r["seconds"], "run_dir": r["run_dir"],
                          "degenerate": r["degenerate"]}
                         for r in runs],
            "train_seconds": sum(r["seconds"] for r in runs), "curve": curve,
            "model_path": str(Path(runs[0]["run_dir"]) / MODEL_PT)}
