"""``run_main_job``: search under a latency budget, train the derived arch from scratch, compare it with
baselines trained under the same training config, export and verify ONNX, write the report.

A thin sequence of stages, each resumable in its own part of the run folder (a finished stage is read
back, never redone), on the run kernel (``archscout._rundir``: identity, records, versions):

1. ``search`` (``_search_stage``): the method with the budget as its cost target (``RUN/search/``); a
   multi-trial method runs an experiment study with the training evaluator;
2. ``baselines``: the baseline method (DARTS/GDAS) with no cost term (``RUN/baseline-search/``);
3. ``train`` (``_train_stage``): the searched cell and every baseline of ``_cells.comparison_cells``
   trained from scratch under one TrainConfig and seeds (``RUN/train/nb201-<index>/seed-<s>/``);
4. ``export`` (``_outputs``): ``model.pt`` (the derived arch, first seed) and ``model.onnx``, verified;
5. ``report`` (``_outputs``): ``result.json`` and ``report.html`` (figures also as ``figures/*.png``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archscout._accelerator import resolve
from archscout._rundir import check_identity, run_path
from archscout.exceptions import ArchscoutError
from archscout.pipeline._cells import check_budget, comparison_cells, feasible
from archscout.pipeline._config import Log, MainJobConfig
from archscout.pipeline._multitrial import SEARCH_METHODS
from archscout.pipeline._outputs import assemble, export, write_outputs
from archscout.pipeline._search_stage import connect, diagnostics, multi_trial_search, one_shot_search
from archscout.pipeline._settings import (get_method, load_data, one_shot_or_unknown, search_config, strip_run_only,
                                          train_config, training_task)
from archscout.pipeline._train_stage import mean_entry, train_archs

STAGES = ("search", "train", "baselines", "export", "report")
TASK_FIELDS = ("suite", "split", "data_root", "data_seed", "per_domain", "image_size", "image_mode", "profile", "threads",
               "accelerator", "precision")


@dataclass
class MainJobResult:
    """What ``run_main_job`` returns: the content of ``result.json`` and where the run lives."""

    run_dir: Path
    result: dict[str, Any]
    ran: list[str]  # the stages that did work in this call (the others were read back)

    def __getitem__(self, key: str) -> Any:
        return self.result[key]


def run_main_job(config: MainJobConfig | None = None, *, progress: bool = False,
                 log: Log | None = None, search_only: bool = False) -> MainJobResult:
    """Run (or resume) the main job; see the module docstring. Bad settings fail before any work with a
    one-line ``ArchscoutError``; ``log`` receives one line per stage; ``progress`` shows rich bars.
    ``search_only`` stops after the search stage (the result holds ``arch``, ``arch_index``, ``search``)."""
    from archscout.oneshot import OpCost
    from archscout.spaces import get_space

    config = config or MainJobConfig()
    resolve(config.accelerator)  # an accelerator asked for and absent: one line, before any work
    say: Log = log or (lambda line: None)
    multi = config.method in SEARCH_METHODS
    method = SEARCH_METHODS.get(config.method) if multi else one_shot_or_unknown(config.method)
    baseline = get_method(config.baseline_method)
    for m in (method, baseline):
        if config.space not in m.spaces:
            raise ArchscoutError(f"method {m.name!r} does not search space {config.space!r} (it searches "
                                 f"{', '.join(m.spaces)})")
    cost = OpCost.fit(config.space, config.device)  # unknown device: one line
    cost = cost.with_target(config.max_latency, config.cost_weight)  # a budget no arch meets: one line
    check_budget(cost)
    seeds = list(config.seeds)
    scfg = method.make_config(config.profile, seed=seeds[0], workers=config.workers, **config.search_overrides) \
        if multi else search_config(config.method, config, seeds[0])
    bcfg = search_config(config.baseline_method, config, seeds[0])
    tcfgs = {s: train_config(config, s) for s in seeds}
    train_identity = strip_run_only(tcfgs[seeds[0]].to_dict(), "seed")
    data = load_data(config)
    sp = get_space(config.space)
    run = run_path(config.run_dir, config.name_for(data.split.name), "name")
    check_identity(run, {"job": "archscout.main/1", "space": config.space, "suite": data.name,
                         "split": data.split.name, "data": {k: v for k, v in data.meta.items() if k != "split"},
                         "method": config.method, "search": strip_run_only(scfg.to_dict()), "cost": cost.describe(),
                         "baseline_method": config.baseline_method, "baseline_search": strip_run_only(bcfg.to_dict()),
                         "train": train_identity, "profile": config.profile, "search_seed": seeds[0]})
    ran: list[str] = []
    stage_s: dict[str, float] = {}

    # 1. search under the budget
    t0 = time.perf_counter()
    budget = f"{cost.metric} <= {config.max_latency:g} ms" if config.max_latency is not None else "no budget"
    line = f"[1/5] search: {config.method} on {data.name} / {data.split.name} training domains, {budget}"
    if multi:
        task = {**training_task(**{k: getattr(config, k) for k in TASK_FIELDS}), "split": data.split.name,
                "train": train_identity}
        found = multi_trial_search(scfg, task, feasible(cost), run / "search", progress, say, line)
    else:
        found = one_shot_search(method, config.space, data, scfg, cost, run / "search", progress, say, line)
    ran += ["search"] if found["ran"] else []
    connect(found, cost, say, "[1/5] search")
    index = sp.index(sp.parse(found["arch"]))
    stage_s["search"] = time.perf_counter() - t0
    if search_only:
        return MainJobResult(run, {"arch": found["arch"], "arch_index": index, "search": {
            **{k: v for k, v in found.items() if k != "ran"}, "diagnostics": diagnostics(found, cost)}}, ran)

    # 2. the baseline search, with no latency target
    t0 = time.perf_counter()
    bfound = one_shot_search(baseline, config.space, data, bcfg, None, run / "baseline-search", progress, say,
                             f"[2/5] baseline search: {config.baseline_method}, no latency target")
    ran += ["baseline-search"] if bfound["ran"] else []
    connect(bfound, None, say, "[2/5] baseline search")
    stage_s["baselines"] = time.perf_counter() - t0

    # 3. train from scratch: the searched cell and the baselines, same TrainConfig and seeds
    t0 = time.perf_counter()
    specs = comparison_cells(config, cost, index, sp.index(sp.parse(bfound["arch"])), seeds[0])
    trained = train_archs(config, specs, data, tcfgs, run, progress, say, "[3/5] train", ran)
    derived, baselines, random_cells = trained[0], trained[1:5], trained[5:]
    if random_cells:
        baselines.append(mean_entry(f"random feasible cells (mean of {len(random_cells)})", random_cells,
                                    f"mean over {len(random_cells)} uniformly random connected cells within the "
                                    f"budget (seeded by search seed {seeds[0]})"))
    stage_s["train"] = time.perf_counter() - t0

    # 4. model.pt and model.onnx, verified
    t0 = time.perf_counter()
    check = export(run, derived, data, say, ran)
    stage_s["export"] = time.perf_counter() - t0

    # 5. result.json and report.html
    t0 = time.perf_counter()
    result = assemble(config, data, cost, found, bfound, derived, baselines, check, tcfgs[seeds[0]], scfg, bcfg)
    result["random_feasible"] = [{k: b[k] for k in ("arch", "arch_index", "id_acc", "ood_acc", "params",
                                                    "degenerate")} for b in random_cells]
    result["stage_seconds"] = stage_s
    write_outputs(run, result, say, ran)
    stage_s["report"] = time.perf_counter() - t0
    return MainJobResult(run, result, ran)
