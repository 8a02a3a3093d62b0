"""``run_main_job``: search under a latency budget, train the derived arch from scratch, compare it with
baselines trained under the same training config, export and verify ONNX, write the report.

Stages (each resumable; a finished stage is read back, never redone):

1. ``search``: the one-shot method with the budget as its cost target (``RUN/search/``);
2. ``train``: the derived arch trained from scratch on the training domains, training-domain
   validation, evaluated on the held-out domain(s), once per seed (``RUN/train/nb201-<index>/seed-<s>/``);
3. ``baselines``: ERM on the ResNet-like cell 11472, on the best CIFAR-10 cell of the NB201 table by
   validation accuracy, and on the arch the baseline method (DARTS/GDAS) finds with no cost term
   (``RUN/baseline-search/``), each under the same ``TrainConfig`` and seeds;
4. ``export``: ``model.pt`` (the derived arch, first seed) and ``model.onnx``, verified against PyTorch;
5. ``report``: ``result.json`` and ``report.html`` (figures also as ``figures/*.png``).

The training and search stages resume inside themselves too (per-epoch checkpoints of archscout.train
and archscout.oneshot).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from archscout._io import atomic_write, atomic_write_json
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.pipeline._config import (CPU_TRAIN, PAPER_IMAGE_SIZE, PAPER_TRAIN, RESNET_CELL, SMOKE_PER_DOMAIN,
                                        SMOKE_SEARCH, SMOKE_TRAIN, MainJobConfig)
from archscout.pipeline._multitrial import SEARCH_METHODS, run_train_search

RESULT = "result.json"
SEARCH_RECORD = "search.json"
REPORT = "report.html"
MODEL_PT = "model.pt"
MODEL_ONNX = "model.onnx"
STAGES = ("search", "train", "baselines", "export", "report")
VERIFY_IMAGES = 256
SELECTION = "training-domain"
# Every latency column of the NB201 CIFAR-10 table, measured or published (predicted columns left out).
LATENCY_DATASET = "cifar10"

Log = Callable[[str], None]


@dataclass
class MainJobResult:
    """What ``run_main_job`` returns: the content of ``result.json`` and where the run lives."""

    run_dir: Path
    result: dict[str, Any]
    ran: list[str]  # the stages that did work in this call (the others were read back)

    def __getitem__(self, key: str) -> Any:
        return self.result[key]


def get_method(name: str):
    """A one-shot method by its registered name; a method module not imported by ``archscout.oneshot``
    yet (``archscout/oneshot/_<name>.py``) is imported on first use. Unknown names: one line."""
    import importlib

    from archscout.oneshot import get_method as lookup
    from archscout.oneshot._base import METHODS

    if isinstance(name, str) and name.isidentifier() and name not in METHODS:
        module = f"archscout.oneshot._{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return lookup(name)


def _one_shot_or_unknown(name: str):
    """A one-shot method; a name that is neither kind of search: one line naming both kinds."""
    from archscout.oneshot import list_methods

    try:
        return get_method(name)
    except UnknownNameError:
        raise UnknownNameError("search method", name, [*SEARCH_METHODS.names(), *list_methods()]) from None


# -- settings ------------------------------------------------------------------------------------------
def _config_fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def search_config(method: str, config: MainJobConfig, seed: int):
    """The one-shot config of ``method`` under the job's profile (smoke: the cpu profile at tiny sizes
    when the one-shot package has no smoke profile of its own), plus the job's overrides."""
    from archscout.oneshot import PROFILES, get_profile
    from archscout.oneshot._base import METHODS

    get_method(method)  # registers it if needed
    cls = METHODS.get(method)
    names = _config_fields(cls.config_class)
    overrides: dict[str, Any] = {}
    profile = config.profile
    if profile == "smoke" and "smoke" not in PROFILES:
        profile = "cpu"
        overrides.update({k: v for k, v in SMOKE_SEARCH.items() if k in names})
        # a method's own epoch counts (stages, warm-up) shrink too; its own smoke sizes win
        for f in fields(cls.config_class):
            if f.name.endswith("epochs") and f.name not in overrides and isinstance(f.default, int) and f.default > 1:
                overrides[f.name] = 1
        overrides.update(cls.profiles.get("smoke", {}))
    overrides.update({k: v for k, v in config.search_overrides.items() if k in names})
    unknown = sorted(set(config.search_overrides) - names)
    if unknown:
        raise ArchscoutError(f"search setting(s) {', '.join(unknown)} unknown to {method}'s "
                             f"{cls.config_class.__name__}")
    overrides["seed"] = seed
    if "threads" in names:
        overrides["threads"] = config.threads
    return get_profile(method, profile, **overrides)


def train_config(config: MainJobConfig, seed: int):
    """The TrainConfig every arch (searched and baselines) is trained with."""
    from archscout.train import TrainConfig

    base: dict[str, Any] = {}
    if config.profile == "cpu":
        base.update(CPU_TRAIN)
    elif config.profile == "smoke":
        base.update(SMOKE_TRAIN)
    elif config.profile == "paper":
        base.update(PAPER_TRAIN)
    base.update(config.train_overrides)
    unknown = sorted(set(base) - _config_fields(TrainConfig))
    if unknown:
        raise ArchscoutError(f"training setting(s) {', '.join(unknown)} unknown to TrainConfig")
    return TrainConfig(**{**base, "seed": seed, "threads": config.threads})


def training_task(*, profile: str | None = None, threads: int | None = None, **data: Any) -> dict[str, Any]:
    """The training evaluator's options for the main job's task at ``profile`` (suite, split, data
    settings and the TrainConfig every arch is trained with): ``--multi-trial --evaluator train``."""
    kwargs = {k: v for k, v in data.items() if v is not None}
    config = MainJobConfig(**kwargs, **({"profile": profile} if profile is not None else {}),
                           **({"threads": threads} if threads is not None else {}))
    train = _strip(train_config(config, 0).to_dict(), "seed")
    return {"suite": config.suite, "split": config.split or default_split(config), "data_root": config.data_root,
            "data_seed": config.data_seed, "per_domain": data_size(config)[1], "image_size": data_size(config)[0],
            "train": train, "threads": config.threads}


def data_size(config: MainJobConfig) -> tuple[int, int | None]:
    """Image size and images per domain of the job's data (the profile's unless given)."""
    size = config.image_size or (PAPER_IMAGE_SIZE if config.profile == "paper" else 16)
    return size, config.per_domain or (SMOKE_PER_DOMAIN if config.profile == "smoke" else None)


def load_data(config: MainJobConfig):
    """The job's domain data: the given or default split; a leave-one-domain-out split needs two or
    more domains (one to hold out, one or more to train on)."""
    from archscout.data import DatasetError, load_split
    from archscout.data._suites import SUITES

    registered = str(config.suite) in SUITES
    split = config.split or default_split(config)
    size, per_domain = data_size(config)
    data = load_split(config.suite, split, seed=config.data_seed, size=size, per_domain=per_domain,
                      root=config.data_root)
    if not data.split.train or not data.split.test:
        raise DatasetError(f"split {data.split.name!r} of {data.name} needs one or more training and held-out domains")
    if not registered and len(data.domains) < 2:
        raise DatasetError(f"{data.name} has one domain: leave-one-domain-out needs two or more")
    return data


def default_split(config: MainJobConfig) -> str:
    """``style-lodo-noise`` for the shift suites; for a folder, leave its last domain out."""
    from archscout.data import scan_folder
    from archscout.data._load import _folder
    from archscout.data._suites import SUITES
    from archscout.pipeline._config import DEFAULT_SPLIT

    if str(config.suite) in SUITES:
        return DEFAULT_SPLIT
    folder, dataset = _folder(config.suite, config.data_root)
    ds = scan_folder(folder, dataset=dataset)  # one domain only: a one-line error naming the folder
    return f"lodo-{ds.domains[-1]}"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("archscout", "torch", "numpy", "onnx", "onnxruntime", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


# -- cost lookups -----------------------------------------------------------------------------------------
def latency_metrics() -> list[str]:
    """Every latency column of the NB201 table (all devices; ``*_predicted`` columns left out)."""
    from archscout.hardware import get_cost_model

    bench = get_cost_model("nb201", LATENCY_DATASET)
    return [m for m in bench.metrics if "_latency" in m and not m.endswith("_predicted")]


def latencies(arch: Any) -> dict[str, float | None]:
    from archscout.hardware import get_cost_model

    row = get_cost_model("nb201", LATENCY_DATASET).query(arch, latency_metrics())
    return {m: (None if not np.isfinite(v) else float(v)) for m, v in row.items()}


def budget_latency(metric: str, index: int) -> tuple[float | None, bool]:
    """A cell's latency on the budget's metric, and whether it is predicted (a device measured on this
    machine covers only its measured cells): the value the search's budget was enforced on."""
    from archscout.hardware import get_cost_model

    values, estimated = get_cost_model("nb201", LATENCY_DATASET).column_or_predicted(metric)
    if not np.isfinite(values[index]):
        return None, False
    return float(values[index]), bool(estimated[index])


def best_cifar10_cell(cost: Any = None) -> int:
    """The NB201 cell with the best CIFAR-10 validation accuracy (cifar10-valid; never test_acc); with a
    cost target (``OpCost``), the best among the connected cells that meet it."""
    from archscout.hardware import get_cost_model

    acc = np.asarray(get_cost_model("nb201", "cifar10").column("valid_acc"), dtype=np.float64)
    if cost is not None and cost.target is not None:
        acc = np.where(_feasible(cost), acc, -np.inf)
    return int(np.nanargmax(acc))


def _feasible(cost: Any) -> np.ndarray:
    """Connected NB201 cells whose budget cost meets the target (the searches' hard constraint)."""
    from archscout.spaces import get_space

    ok = ~get_space("nb201").disconnected_mask()
    return ok & (cost.true_costs() <= cost.target) if cost.target is not None else ok


def random_feasible_cells(cost: Any, n: int, seed: int) -> list[int]:
    """``n`` distinct uniformly random connected cells within the budget (seeded)."""
    pool = np.flatnonzero(_feasible(cost))
    rng = np.random.default_rng([seed, 11])
    return sorted(int(i) for i in rng.choice(pool, size=min(n, len(pool)), replace=False))


def nb201_reported(index: int) -> dict[str, float]:
    from archscout.hardware import get_cost_model

    row = get_cost_model("nb201", "cifar10").query(index, ["valid_acc", "test_acc"])
    return {f"cifar10_{k}": float(v) for k, v in row.items()}


# -- the job ---------------------------------------------------------------------------------------------------
def run_main_job(config: MainJobConfig | None = None, *, progress: bool = False,
                 log: Log | None = None, search_only: bool = False) -> MainJobResult:
    """Run (or resume) the main job; see the module docstring. Bad settings fail before any work with a
    one-line ``ArchscoutError``; ``log`` receives one line per stage; ``progress`` shows rich bars.
    ``search_only`` stops after the search stage (the result holds ``arch``, ``arch_index``, ``search``)."""
    from archscout.oneshot import OpCost
    from archscout.spaces import get_space
    from archscout.train._loop import check_identity

    config = config or MainJobConfig()
    say: Log = log or (lambda line: None)
    multi = config.method in SEARCH_METHODS
    method = SEARCH_METHODS.get(config.method) if multi else _one_shot_or_unknown(config.method)
    baseline = get_method(config.baseline_method)
    for m in (method, baseline):
        if config.space not in m.spaces:
            raise ArchscoutError(f"method {m.name!r} does not search space {config.space!r} (it searches "
                                 f"{', '.join(m.spaces)})")
    cost = OpCost.fit(config.space, config.device)  # unknown device: one line
    cost = cost.with_target(config.max_latency, config.cost_weight)  # a budget no arch meets: one line
    _check_budget(cost)
    seeds = list(config.seeds)
    scfg = method.make_config(config.profile, seed=seeds[0], workers=config.workers, **config.search_overrides) \
        if multi else search_config(config.method, config, seeds[0])
    bcfg = search_config(config.baseline_method, config, seeds[0])
    tcfgs = {s: train_config(config, s) for s in seeds}
    data = load_data(config)
    sp = get_space(config.space)
    run = Path(config.run_dir) / config.name_for(data.split.name)
    identity = {"job": "archscout.main/1", "space": config.space, "suite": data.name, "split": data.split.name,
                "data": {k: v for k, v in data.meta.items() if k != "split"},
                "method": config.method, "search": _strip(scfg.to_dict()), "cost": cost.describe(),
                "baseline_method": config.baseline_method, "baseline_search": _strip(bcfg.to_dict()),
                "train": _strip(tcfgs[seeds[0]].to_dict(), "seed"), "profile": config.profile,
                "search_seed": seeds[0]}
    check_identity(run, identity)
    ran: list[str] = []
    stage_s: dict[str, float] = {}

    # 1. search under the budget
    t0 = time.perf_counter()
    budget = f"{cost.metric} <= {config.max_latency:g} ms" if config.max_latency is not None else "no budget"
    line = f"[1/5] search: {config.method} on {data.name} / {data.split.name} training domains, {budget}"
    if multi:
        task = training_task(**{k: getattr(config, k) for k in ("suite", "split", "data_root", "data_seed",
                                                                 "per_domain", "image_size", "profile", "threads")})
        task["split"] = data.split.name
        task["train"] = _strip(tcfgs[seeds[0]].to_dict(), "seed")
        found = _search_multi(scfg, task, cost, run / "search", progress, say, line)
    else:
        found = _search(method, config.space, data, scfg, cost, run / "search", progress, say, line)
    if found["ran"]:
        ran.append("search")
    stage_s["search"] = time.perf_counter() - t0
    _connect(found, cost, say, "[1/5] search")
    arch = sp.parse(found["arch"])
    index = sp.index(arch)
    if search_only:
        return MainJobResult(run, {"arch": found["arch"], "arch_index": index, "search": {
            **{k: v for k, v in found.items() if k != "ran"}, "diagnostics": diagnostics(found, cost)}}, ran)

    # 2. the baseline search (no latency target), then every training at once: searched cell and baselines
    t0 = time.perf_counter()
    bfound = _search(baseline, config.space, data, bcfg, None, run / "baseline-search", progress, say,
                     f"[2/5] baseline search: {config.baseline_method}, no latency target")
    if bfound["ran"]:
        ran.append("baseline-search")
    _connect(bfound, None, say, "[2/5] baseline search")
    stage_s["baselines"] = time.perf_counter() - t0

    # 3. train from scratch: the searched cell and the baselines, same TrainConfig and seeds
    t0 = time.perf_counter()
    best, best_in = best_cifar10_cell(), best_cifar10_cell(cost)
    randoms = random_feasible_cells(cost, config.random_baselines, seeds[0])
    specs = [("searched", index, ""),
             (f"ERM ResNet-like cell {RESNET_CELL}", RESNET_CELL, "fixed: NB201's ResNet-like cell"),
             (f"ERM best CIFAR-10 cell {best}", best, "NB201 table: best CIFAR-10 validation accuracy (cifar10-valid)"),
             (f"ERM best CIFAR-10 cell within budget {best_in}", best_in,
              "NB201 table: best CIFAR-10 validation accuracy among the cells within the budget (a transfer prior)"),
             (f"{config.baseline_method} (no budget)", sp.index(sp.parse(bfound["arch"])),
              f"{config.baseline_method} on the same training domains, profile {config.profile}, no latency target")]
    specs += [(f"random feasible cell {i}", i, "uniformly random connected cell within the budget") for i in randoms]
    trained = _train_archs(config, specs, data, tcfgs, run, progress, say, "[3/5] train", ran)
    derived = trained[0]
    baselines = trained[1:5]
    for b, (_, _, how) in zip(baselines, specs[1:5]):
        b["found_by"] = how
    random_cells = trained[5:]
    for b in random_cells:
        b["found_by"] = specs[5][2]
    if random_cells:
        baselines.append(_mean_entry(f"random feasible cells (mean of {len(random_cells)})", random_cells,
                                     f"mean over {len(random_cells)} uniformly random connected cells within the "
                                     f"budget (seeded by search seed {seeds[0]})"))
    stage_s["train"] = time.perf_counter() - t0

    # 4. model.pt and model.onnx, verified
    t0 = time.perf_counter()
    check = _export(run, derived, data, say, ran)
    stage_s["export"] = time.perf_counter() - t0

    # 5. result.json and report.html
    t0 = time.perf_counter()
    result = _assemble(config, data, cost, found, bfound, derived, baselines, check, tcfgs[seeds[0]], scfg, bcfg)
    result["random_feasible"] = [{k: b[k] for k in ("arch", "arch_index", "id_acc", "ood_acc", "params")}
                                 for b in random_cells]
    result["stage_seconds"] = stage_s
    _write_outputs(run, result, say, ran)
    stage_s["report"] = time.perf_counter() - t0
    return MainJobResult(run, result, ran)


LEARNED_DROP = 0.05  # a one-shot search learned when its final edge entropy is 5 % or more below uniform


def diagnostics(found: dict[str, Any], cost: Any = None) -> dict[str, Any]:
    """Did the search decide the cell? One-shot: the final mean edge entropy against uniform's, ``learned``
    (5 % or more below uniform) and ``decided_by``: ``fallback`` (the method's cell was cut off and
    re-derived), ``penalty`` (the distribution stayed near uniform under a cost target, so the latency
    penalty ordered the cells) or ``search``. Multi-trial: trained archs and epochs, ``decided_by: search``."""
    if "trials" in found:
        return {"decided_by": "search", "learned": None, "trials": len(found["trials"]),
                "epochs": found.get("epochs_total"), "chosen_by": found.get("chosen_by")}
    hist = [h for h in found.get("history", []) if h.get("entropy") is not None]
    dist = np.asarray(found.get("distribution") or [], dtype=np.float64)
    out: dict[str, Any] = {"entropy_final": hist[-1]["entropy"] if hist else None,
                           "entropy_uniform": float(np.log(dist.shape[-1])) if dist.ndim == 2 else None}
    if out["entropy_final"] is None or out["entropy_uniform"] is None:
        out.update(learned=None, decided_by="search")
        return out
    out["learned"] = bool(out["entropy_final"] <= (1 - LEARNED_DROP) * out["entropy_uniform"])
    if str(found.get("derivation", "")).startswith("re-derived"):
        out["decided_by"] = "fallback"
    elif not out["learned"] and cost is not None and cost.target is not None:
        out["decided_by"] = "penalty"
    else:
        out["decided_by"] = "search"
    return out


def _check_budget(cost: Any) -> None:
    """A budget that only cells with their output cut off from the input meet (chance accuracy) is refused."""
    from archscout.spaces import get_space

    if cost.target is None:
        return
    costs = cost.true_costs()[~get_space(cost.space).disconnected_mask()]
    cheapest = float(np.nanmin(costs))
    if cheapest > cost.target:
        raise ArchscoutError(f"no connected {cost.space} cell has {cost.metric} <= {cost.target:g} {cost.unit} (the "
                             f"cheapest takes {cheapest:.4g} {cost.unit}; cheaper cells cut the output off from "
                             "the input)")


def _strip(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A config without what may change when a run resumes (threads, workers)."""
    return {k: v for k, v in d.items() if k not in ("threads", "workers", *keys)}


def _search(method, space: str, data, cfg, cost, sdir: Path, progress: bool, say: Log, line: str) -> dict[str, Any]:
    """Run (or read back) one one-shot search; returns its result.json content plus ``ran``."""
    path = sdir / RESULT
    if path.exists():
        out = json.loads(path.read_text())
        say(f"{line}: done earlier ({out['seconds']:.0f} s) -> {out['arch']}")
        return {**out, "ran": False}
    say(f"{line} ...")
    result = method.search(space, data, cfg, cost=cost, run_dir=sdir, progress=progress)
    out = json.loads(path.read_text()) if path.exists() else result.to_dict()
    lat = ""
    if cost is not None and result.cost is not None and result.cost.get("value") is not None:
        lat = f" ({cost.metric} {result.cost['value']:.2f} ms)"
    say(f"{line}: {result.seconds:.0f} s -> {result.arch_str}{lat}")
    return {**out, "ran": True}


def _search_multi(cfg, task: dict[str, Any], cost, sdir: Path, progress: bool, say: Log, line: str) -> dict[str, Any]:
    """Run (or read back) a multi-trial search on the training evaluator: the archs within the budget
    (the same rule as the one-shot searches' hard constraint), trained on the training domains only."""
    path = sdir / SEARCH_RECORD  # the study's own result.json sits beside it
    if path.exists():
        out = json.loads(path.read_text())
        say(f"{line}: done earlier ({out['seconds']:.0f} s) -> {out['arch']}")
        return {**out, "ran": False}
    say(f"{line} ...")
    out = run_train_search(cfg, task, _feasible(cost), sdir, progress)
    out["history"] = []
    atomic_write_json(path, _jsonable(out))
    say(f"{line}: {len(out['trials'])} archs, {out['epochs_total']} epochs in {out['wall_seconds']:.0f} s -> "
        f"{out['arch']} ({out['chosen_by']})")
    return {**out, "ran": True}


def connected_derivation(distribution: Any, cost: Any = None) -> Any:
    """The most probable NB201 arch under a per-edge distribution (6 x 5) whose output is connected to
    its input and, with a cost target, whose table cost meets it; None if the distribution is not
    per-edge or no arch qualifies."""
    from archscout.oneshot._cost import most_probable_connected

    probs = np.asarray(distribution, dtype=np.float64)
    if probs.shape != (6, 5) or not np.isfinite(probs).all():
        return None
    allowed = cost.true_costs() <= cost.target if cost is not None and cost.target is not None else None
    return most_probable_connected("nb201", probs, allowed)


def _connect(found: dict[str, Any], cost: Any, say: Log, tag: str) -> None:
    """A derived cell whose output is cut off from its input can only guess: replace it by the most
    probable connected (and, with a target, feasible) cell of the method's distribution, and record both."""
    from archscout.spaces import get_space

    sp = get_space("nb201")
    found["derived_by_method"] = found["arch"]
    found["derivation"] = "the method's own"
    if not sp.is_disconnected(sp.parse(found["arch"])):
        return
    alt = connected_derivation(found.get("distribution"), cost)
    if alt is None:
        say(f"{tag}: warning: the derived cell {found['arch']} cuts the output off from the input (chance "
            "accuracy) and no connected alternative exists; it is trained as found")
        found["derivation"] = "the method's own (disconnected: chance accuracy)"
        return
    found["arch"] = sp.to_str(alt)
    found["derivation"] = ("re-derived: the method's cell cut the output off from the input, so the most probable "
                           "connected cell " + ("within the budget " if cost is not None and cost.target else "")
                           + "under the method's final distribution was taken")
    say(f"{tag}: the method's cell {found['derived_by_method']} cuts the output off from the input (chance "
        f"accuracy); taking the most probable connected cell{' within the budget' if cost is not None else ''}: "
        f"{found['arch']}")


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


def _train_archs(config: MainJobConfig, specs: list[tuple[str, int, str]], data, tcfgs: dict[int, Any], run: Path,
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
            if (tdir / RESULT).exists():
                r = json.loads((tdir / RESULT).read_text())
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
        with ProcessPoolExecutor(min(config.workers, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_job, config, index, cfg, tdir): (name, index, seed, tdir)
                       for name, index, seed, cfg, tdir in todo}
            for fut in as_completed(futures):
                name, index, seed, tdir = futures[fut]
                record(name, index, seed, tdir, fut.result())
    return [_entry(name, index, [results[(index, s)] for s in tcfgs]) for name, index, _ in specs]


def _mean_entry(name: str, entries: list[dict[str, Any]], how: str) -> dict[str, Any]:
    """One baseline row for several cells: the mean of their seed means (std over the cells)."""
    out: dict[str, Any] = {k: statistics.fmean(e[k] for e in entries) for k in ("id_acc", "ood_acc")}
    out["id_acc_std"], out["ood_acc_std"] = (statistics.stdev(e[k] for e in entries) if len(entries) > 1 else None
                                             for k in ("id_acc", "ood_acc"))
    out.update(name=name, arch=None, arch_index=None, found_by=how, cells=[e["arch_index"] for e in entries],
               params=round(statistics.fmean(e["params"] for e in entries)),
               selection_rule=entries[0]["selection_rule"], latency_all=None, curve=None)
    return out


def _entry(name: str, index: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    from archscout.spaces import get_space

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
            "disconnected": get_space("nb201").is_disconnected(get_space("nb201").from_index(index)),
            "latency_all": lat, "nb201_reported": nb201_reported(index),
            "per_seed": [{"seed": r["seed"], "id_acc": r["id_acc"], "ood_acc": r["ood_acc"],
                          "selected_epoch": r["selected_epoch"], "seconds": r["seconds"], "run_dir": r["run_dir"]}
                         for r in runs],
            "train_seconds": sum(r["seconds"] for r in runs), "curve": curve,
            "model_path": str(Path(runs[0]["run_dir"]) / MODEL_PT)}


def _export(run: Path, derived: dict[str, Any], data, say: Log, ran: list[str]) -> dict[str, Any]:
    """Copy the derived arch's model (first seed) to RUN/model.pt; export RUN/model.onnx (unless it is
    already there and newer) and verify it on held-out images (always: it is cheap)."""
    import torch

    from archscout.train import load_model
    from archscout.train._export import export_onnx, verify_onnx

    src, pt, onnx_path = Path(derived["model_path"]), run / MODEL_PT, run / MODEL_ONNX
    data_pt = src.read_bytes()
    fresh = not pt.exists() or pt.read_bytes() != data_pt
    if fresh:
        atomic_write(pt, data_pt)
    model = load_model(pt)
    test = data.test[0]
    x = test.x[:VERIFY_IMAGES].to(torch.float32)
    if fresh or not onnx_path.exists():
        export_onnx(model, onnx_path, x)
        ran.append("export")
    what = f"held-out domain {test.name} (first {len(x)} images)"
    check = verify_onnx(model, onnx_path, x, data=what)
    say(f"[4/5] export: {MODEL_PT}, {MODEL_ONNX} verified with ONNX Runtime: max abs diff {check.max_abs_diff:.1e} "
        f"<= {check.tolerance:g} on {what}")
    return check.to_dict()


def _assemble(config: MainJobConfig, data, cost, found, bfound, derived, baselines, check, tcfg, scfg, bcfg) -> dict:
    from archscout.hardware import get_cost_model

    metric = cost.metric
    budget = config.max_latency
    source = "HW-NAS-Bench/HELP tables"
    if f"{metric}_predicted" in get_cost_model("nb201", LATENCY_DATASET).metrics:
        source = ("measured on this machine (archscout hw measure); where a cell is not measured, the device's "
                  "predictor (latency_predicted)")
    for e in [derived, *baselines]:
        if e.get("cells"):  # several cells: their mean latency, within budget when every one is
            lat = [budget_latency(metric, i)[0] for i in e["cells"]]
            known = [v for v in lat if v is not None]
            e["latency_ms"], e["latency_predicted"] = (statistics.fmean(known) if known else None), False
            e["meets_budget"] = None if budget is None or len(known) < len(lat) else all(v <= budget for v in known)
            continue
        e["latency_ms"], e["latency_predicted"] = budget_latency(metric, e["arch_index"])
        e["meets_budget"] = None if budget is None or e["latency_ms"] is None else bool(e["latency_ms"] <= budget)
    d = derived
    search_block = {"method": config.method, "seconds": found["seconds"], "epochs": len(found.get("history", [])),
                    "derived_by_method": found["derived_by_method"], "derivation": found["derivation"],
                    "config": _strip(scfg.to_dict()), "cost": found.get("cost"),
                    "cost_term": f"{metric} target {budget} ms, weight {config.cost_weight} (penalty on the expected "
                                 "cost, hard constraint at derivation)" if budget is not None else "none",
                    "history": found.get("history", []),
                    "diagnostics": diagnostics(found, cost),
                    **{k: found[k] for k in ("chosen_by", "margin_points") if k in found},
                    "trials": [{**t, "latency_ms": budget_latency(metric, t["arch_index"])[0]}
                               for t in found.get("trials", [])],
                    "baseline": {"method": config.baseline_method, "arch": bfound["arch"],
                                 "seconds": bfound["seconds"], "derived_by_method": bfound["derived_by_method"],
                                 "derivation": bfound["derivation"],
                                 "config": _strip(bcfg.to_dict())}}
    return {
        "name": config.name_for(data.split.name), "space": config.space, "method": config.method,
        "profile": config.profile,
        "arch": d["arch"], "arch_index": d["arch_index"], "name_of_arch": f"{config.method} (searched, budget)",
        "found_by": f"{config.method} with the latency budget as cost target",
        "device": config.device, "latency_metric": metric, "latency_ms": d["latency_ms"],
        "latency_predicted": d["latency_predicted"],
        "latency_source": source + ": the cell in NB201's CIFAR-10 network (32x32, C=16, N=5)",
        "max_latency_ms": budget, "meets_budget": d["meets_budget"], "latency_all": d["latency_all"],
        "id_acc": d["id_acc"], "ood_acc": d["ood_acc"], "id_acc_std": d["id_acc_std"], "ood_acc_std": d["ood_acc_std"],
        "id_per_domain": d["id_per_domain"], "ood_per_domain": d["ood_per_domain"],
        "selection_rule": d["selection_rule"], "selected_epoch": d["selected_epoch"], "seeds": list(config.seeds),
        "params": d["params"], "disconnected": d["disconnected"], "per_seed": d["per_seed"], "curve": d["curve"],
        "nb201_reported": d["nb201_reported"],
        "search_seconds": found["seconds"], "train_seconds": d["train_seconds"],
        "baselines": [{k: v for k, v in b.items() if k != "model_path"} for b in baselines],
        "search": search_block, "onnx": check,
        "data": {"suite": data.name, "split": data.split.name, "description": data.split.description,
                 "train_domains": list(data.split.train), "test_domains": list(data.split.test),
                 "per_domain": data.meta.get("per_domain"), "image_size": data.meta.get("image_size"),
                 "data_seed": data.meta.get("seed"), "classes": len(data.classes)},
        "train_config": {**_strip(tcfg.to_dict(), "seed"), "net": tcfg.net_config(config.space)},
        "files": {"result": RESULT, "report": REPORT, "model": MODEL_PT, "onnx": MODEL_ONNX, "figures": "figures/",
                  "search": "search/", "baseline_search": "baseline-search/", "training_runs": "train/"},
        "versions": versions(),
    }


def _jsonable(v: Any) -> Any:
    """Plain JSON types, recursively; non-finite floats become None."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.generic, np.ndarray)):
        return _jsonable(v.tolist())
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    return v


def _write_outputs(run: Path, result: dict[str, Any], say: Log, ran: list[str]) -> None:
    """result.json (always, atomically) and report.html (when missing or when result.json changed)."""
    from archscout.report._html import write_report

    result = _jsonable(result)
    path = run / RESULT
    stable = {k: v for k, v in result.items() if k != "stage_seconds"}
    old = None
    if path.exists():
        try:
            old = {k: v for k, v in json.loads(path.read_text()).items() if k != "stage_seconds"}
        except ValueError:
            old = None
    if old == stable and (run / REPORT).exists():
        say(f"[5/5] report: {run / REPORT} up to date")
        return
    atomic_write_json(path, result)
    write_report(result, run / REPORT, run / "figures")
    ran.append("report")
    say(f"[5/5] report: {run / REPORT}, {path}")
