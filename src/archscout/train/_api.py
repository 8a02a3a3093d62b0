"""``train``: ERM for a fixed architecture on domain data, DomainBed's holdout and selection rules,
a run directory that resumes, and ``train_seeds`` for mean and spread over seeds."""

from __future__ import annotations

import json
import statistics
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archscout._accelerator import describe, fast_math, resolve
from archscout.data import Domain, DomainData, holdout
from archscout.exceptions import ArchscoutError, InvalidArchError
from archscout.spaces import get_space
from archscout._progress import progress_bar
from archscout.train._augment import Classifier, channel_stats
from archscout.train._config import TrainConfig
from archscout.train._degenerate import prediction_stats, summary, verdict
from archscout._rundir import RESULT, check_identity, seed_everything
from archscout.train._loop import RunData, epochs_done, fit, load_weights, steps_per_epoch
from archscout._threads import torch_threads as _threads
from archscout.train._model import build_net, count_params, save_model
from archscout.train._selection import get_rule, select_epoch
from archscout._io import atomic_write_json

MODEL = "model.pt"


@dataclass
class TrainResult:
    """The figures of one trained architecture at the epoch its selection rule chose (accuracies in %).

    ``id_acc``: mean accuracy over the training domains' held-out parts; ``ood_acc``: mean accuracy over
    the (full) test domains; ``selection_rule`` names the rule as it must be reported. ``degenerate``: a
    sentence when the model predicts (nearly) one class or is at chance level (``train._degenerate``),
    from ``prediction_stats`` (the predicted-class histograms of the validation and test images).
    """

    space: str
    arch: str
    arch_index: int | None
    suite: str
    split: str
    seed: int
    data_seed: int | None
    selection: str
    selection_rule: str
    selected_epoch: int
    epochs: int
    id_acc: float
    ood_acc: float | None
    id_per_domain: dict[str, float]
    ood_per_domain: dict[str, float]
    params: int
    throughput: float  # training images per second (forward + backward + update)
    seconds: float  # training and per-epoch evaluation, extra leave-one-domain-out runs included
    config: dict[str, Any]
    history: list[dict[str, Any]]
    lodo: dict[str, list[dict[str, Any]]] | None = None
    epochs_trained: int | None = None  # less than ``epochs`` when stopped early (``until``)
    compute: dict[str, Any] | None = None  # accelerator, its name, torch and CUDA versions, precision
    degenerate: str | None = None  # None: the model is not a constant or chance-level classifier
    prediction_stats: dict[str, Any] | None = None
    run_dir: str | None = None
    model_path: str | None = None
    model: Classifier | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (without the model)."""
        return json.loads(json.dumps({f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}))



def _holdout_seed(seed: int, domain: str) -> int:
    """The in/out split of a domain depends on the run's seed and the domain's name only."""
    return int(np.random.SeedSequence([seed, zlib.crc32(domain.encode())]).generate_state(1)[0])


def _split_domains(data: DomainData, config: TrainConfig, names: Sequence[str]) -> dict[str, tuple[Domain, Domain]]:
    out = {}
    for name in names:
        d = data.domains[name]
        i, o = holdout(d.y, config.holdout_fraction, seed=_holdout_seed(config.seed, name))
        if len(o) == 0:  # every class has one image (a tiny domain): hold out a fraction of the images
            i, o = holdout(np.zeros(len(d)), config.holdout_fraction, seed=_holdout_seed(config.seed, name))
        if len(i) == 0 or len(o) == 0:
            raise ArchscoutError(f"domain {name!r} has {len(d)} images: too few to hold out "
                                 f"{config.holdout_fraction:.0%} for validation")
        out[name] = (d.subset(i), d.subset(o))
    return out


def _stack(parts: Sequence[Domain]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts])


def arch_index(space: Any, arch: Any) -> int | None:
    """The architecture's index in an enumerable space (NB201), else None."""
    try:
        return space.index(arch)
    except InvalidArchError:
        return None


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def _prediction_stats(model: Classifier, main: RunData, data: DomainData, config: TrainConfig) -> dict[str, Any]:
    """The selected model's predicted-class histograms on the images the run already evaluates (the
    validation parts, and the test domains only when the run reads them): one more pass, on the device."""
    with _threads(config.threads):
        return prediction_stats(model, main.evals, data.classes, config.eval_batch_size, config.precision)


def train(space: str, arch: Any, data: DomainData, config: TrainConfig | None = None, *,
          selection: str = "training-domain", run_dir: str | Path | None = None, progress: bool = False,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, until: int | None = None,
          heldout: bool = True) -> TrainResult:
    """Train ``arch`` of ``space`` on the training domains of ``data`` (ERM) and report it at the epoch
    chosen by ``selection`` (``training-domain``, ``leave-one-domain-out`` or ``oracle``).

    Every training domain is split 80/20 (``holdout``): the model trains on the ``in`` parts; each
    epoch it is evaluated on their ``out`` parts (``val``) and on the full test domains (``test``,
    reported). Only the oracle splits the test domains too, and reads their ``out`` parts (``test_out``). With ``run_dir`` the
    run writes ``config.json``, ``checkpoint.pt`` (each epoch), ``weights/``, ``model.pt`` and
    ``result.json``, and calling again with the same arguments resumes (or just re-reads) it.

    ``until`` stops after that epoch of the ``config.epochs`` schedule (a multi-fidelity rung; a later
    call with a larger ``until`` continues the same run). ``heldout=False`` never reads the test
    domains (``ood_acc`` is None): what a search's evaluations use.

    Example:
        >>> from archscout.data import load_split
        >>> data = load_split("digits-shift", "correlation")
        >>> r = train("nb201", 11472, data, TrainConfig(epochs=1, net={"C": 4, "N": 1}))
        >>> r.selection_rule, r.selected_epoch
        ('training-domain validation', 1)
    """
    config = config or TrainConfig()
    rule = get_rule(selection)
    sp = get_space(space)
    arch = sp.parse(arch)
    net_cfg = config.net_config(space)
    in_channels = data.image_shape[0]
    if rule.reads == "lodo" and len(data.split.train) < 2:
        raise ArchscoutError(f"leave-one-domain-out needs two or more training domains; split "
                             f"{data.split.name!r} has {len(data.split.train)}")
    if until is not None and (isinstance(until, bool) or not isinstance(until, int) or until < 1):
        raise ArchscoutError(f"until {until!r} must be a positive number of epochs")
    # a test domain is evaluated whole; only the oracle needs a part of it held out
    split_test = heldout and rule.reads == "test_out"
    parts = _split_domains(data, config, [*data.split.train, *(data.split.test if split_test else ())])
    run_dir = Path(run_dir) if run_dir is not None else None
    identity = {"space": space, "arch": sp.to_str(arch), "net": net_cfg, "suite": data.name,
                "data": {k: v for k, v in data.meta.items() if k != "split"}, "split": data.split.name,
                "train_domains": list(data.split.train), "test_domains": list(data.split.test),
                "train": config.identity()}
    if not heldout:  # its records lack the test domains: never mixed with a run that has them
        identity["heldout"] = False

    device = resolve(config.accelerator)

    def make(x: torch.Tensor) -> Classifier:
        """Built and seeded on the CPU (the same initial weights everywhere), then moved."""
        seed_everything(config.seed)
        net = Classifier(build_net(space, arch, net_cfg, data.num_classes, in_channels), *channel_stats(x.cpu()))
        return net.to(device)

    parts = {d: (i.to(device), o.to(device)) for d, (i, o) in parts.items()}  # resident for the whole run
    x, y = _stack([parts[d][0] for d in data.split.train])
    evals = {"val": {d: parts[d][1] for d in data.split.train}}
    if heldout:
        evals["test"] = {d: data.domains[d].to(device) for d in data.split.test}
        if split_test:
            evals["test_out"] = {d: parts[d][1] for d in data.split.test}
    elif rule.reads == "test_out":
        raise ArchscoutError("the oracle selection rule reads the test domains; it needs heldout=True")
    main = RunData(x, y, evals)
    lodo_data = {}
    if rule.reads == "lodo":
        for d in data.split.train:
            lx, ly = _stack([parts[o][0] for o in data.split.train if o != d])
            lodo_data[d] = RunData(lx, ly, {"val": {d: data.domains[d].to(device)}})

    model = make(x)  # before the progress bar: bad settings and a foreign run directory fail on a clean line
    if run_dir is not None:
        check_identity(run_dir, identity)
    lodo_dirs = {d: None if run_dir is None else run_dir / "lodo" / d for d in lodo_data}
    steps = [steps_per_epoch(rd, config) for rd in (main, *lodo_data.values())]
    done = sum(n * epochs_done(p) for n, p in zip(steps, [run_dir, *lodo_dirs.values()]))
    epochs = config.epochs if until is None else min(until, config.epochs)
    total = sum(steps) * epochs
    with _threads(config.threads), fast_math(device), progress_bar("train", total, progress, min(done, total)) as tick:
        history, weights = fit(model, main, config, run_dir=run_dir, identity=identity, on_batch=tick,
                               on_epoch=on_epoch, until=until)
        lodo = {}
        for d, rd in lodo_data.items():
            sub = lodo_dirs[d]
            lodo[d], _ = fit(make(rd.x), rd, config, run_dir=sub, on_batch=tick,
                             identity={**identity, "held_out": d}, until=until)
    selected = select_epoch(rule, history, lodo or None)
    model.load_state_dict(load_weights(weights[selected]))
    stats = _prediction_stats(model, main, data, config)
    model.cpu().eval()  # the result's model lives on the CPU (export, latency, pickling)
    rec = history[selected - 1]
    index = arch_index(sp, arch)
    runs = [history, *lodo.values()]
    images = sum(r["images"] for h in runs for r in h)
    result = TrainResult(
        space=space, arch=sp.to_str(arch), arch_index=index, suite=data.name, split=data.split.name,
        seed=config.seed, data_seed=data.meta.get("seed"), selection=rule.name, selection_rule=rule.label,
        selected_epoch=selected, epochs=config.epochs, id_acc=_mean(rec["val"]),
        ood_acc=_mean(rec["test"]) if heldout else None, id_per_domain=dict(rec["val"]),
        ood_per_domain=dict(rec.get("test", {})), params=count_params(model.net),
        throughput=images / max(sum(r["train_seconds"] for h in runs for r in h), 1e-9),
        seconds=sum(r["seconds"] for h in runs for r in h), config={**identity, "threads": config.threads},
        compute=describe(device, config.precision), degenerate=verdict(stats), prediction_stats=stats,
        history=history, lodo=lodo or None, epochs_trained=len(history), model=model)
    if run_dir is not None:
        result.run_dir, result.model_path = str(run_dir), str(run_dir / MODEL)
        save_model(run_dir / MODEL, model, {
            "space": space, "arch": result.arch, "net": net_cfg, "classes": list(data.classes),
            "in_channels": in_channels, "image_shape": list(data.image_shape), "mean": model.mean.flatten().tolist(),
            "std": model.std.flatten().tolist(), "suite": data.name, "split": data.split.name,
            "selection_rule": rule.label, "selected_epoch": selected, "seed": config.seed})
        atomic_write_json(run_dir / RESULT, result.to_dict())
    return result


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def train_seeds(space: str, arch: Any, data: DomainData, config: TrainConfig | None = None, *,
                seeds: Sequence[int] = (0, 1, 2), selection: str = "training-domain",
                run_dir: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """``train`` once per seed (run directories ``run_dir/seed-N``): mean and sample std of the
    accuracies and throughput, which seeds gave a degenerate model, and every run's result."""
    config = config or TrainConfig()
    if not seeds:
        raise ArchscoutError("train_seeds needs at least one seed")
    results = [train(space, arch, data, replace(config, seed=int(s)), selection=selection, progress=progress,
                     run_dir=None if run_dir is None else Path(run_dir) / f"seed-{s}") for s in seeds]
    first = results[0]
    return {"space": space, "arch": first.arch, "arch_index": first.arch_index, "suite": first.suite,
            "split": first.split, "selection_rule": first.selection_rule, "seeds": list(seeds),
            "params": first.params, "id_acc": _spread([r.id_acc for r in results]),
            "ood_acc": _spread([r.ood_acc for r in results]),
            "throughput": _spread([r.throughput for r in results]),
            "degenerate": summary([(r.seed, r.degenerate) for r in results]),
            "seconds": sum(r.seconds for r in results), "runs": results}
