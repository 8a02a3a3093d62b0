"""The main job's multi-trial search methods: archs trained on the user's data by the training evaluator,
through the experiment layer (an Optuna study in ``RUN/search/``: resumable, parallel workers).

``prior-sh``: the archs within the budget ranked by a prior (NB201's CIFAR-10 validation accuracy), the
first ``trials`` of them trained with asynchronous successive halving (rungs ``min_epochs * eta**k``
epochs); at full training the prior's first is kept unless another arch's signal beats it by more than
the noise of the validation estimate (``margin_se``). ``random-sh``: the same with a random
order of the archs within the budget (the prior's ablation).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from archscout._registry import Registry
from archscout.exceptions import ArchscoutError


@dataclass(frozen=True)
class TrainSearchConfig:
    """A multi-trial search on the training evaluator (see the module docstring).

    Args:
        prior: how candidates are ordered: ``nb201-cifar10`` (best first) or ``random`` (seeded).
        trials: archs trained (each at least ``min_epochs`` epochs).
        min_epochs, eta: successive-halving rungs (None: every arch trains every epoch).
        signal: the training evaluator's signal (``val_acc``: training-domain validation).
        margin_se: the arch with the best signal replaces the earliest proposed one (the prior's first)
            only when it is ahead by more than this many standard errors of the difference (binomial,
            on the validation images): on the reference table the signal does not rank the prior's
            top cells (README), so a lead within the noise is not taken.
        seed: the training seed of every trial and the random order's seed.
        workers: trainings at once (process pool; 1: in the driver).
    """

    prior: str = "nb201-cifar10"
    trials: int = 9
    min_epochs: int | None = 1
    eta: int = 3
    signal: str = "val_acc"
    margin_se: float = 1.0
    seed: int = 0
    workers: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise ArchscoutError(f"trials {self.trials!r} must be a positive integer")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ArchscoutError(f"workers {self.workers!r} must be a positive integer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainSearchMethod:
    """A named multi-trial search recipe with its profiles (overrides of ``TrainSearchConfig``)."""

    name: str
    description: str
    config: TrainSearchConfig
    profiles: dict[str, dict[str, Any]]
    spaces: tuple[str, ...] = ("nb201",)

    def make_config(self, profile: str, **overrides: Any) -> TrainSearchConfig:
        return replace(self.config, **{**self.profiles.get(profile, {}), **overrides})


SEARCH_METHODS: Registry[TrainSearchMethod] = Registry("multi-trial search method")
_SMOKE = {"trials": 3, "min_epochs": None}
for _m in (TrainSearchMethod("prior-sh", "NB201-prior-ranked archs within the budget, trained with successive "
                             "halving on the training domains", TrainSearchConfig(), {"smoke": _SMOKE}),
           TrainSearchMethod("random-sh", "random archs within the budget, trained with successive halving",
                             TrainSearchConfig(prior="random"), {"smoke": _SMOKE})):
    SEARCH_METHODS.add(_m.name, _m)


def run_train_search(cfg: TrainSearchConfig, task: dict[str, Any], allowed: np.ndarray, run_dir: Path,
                     progress: bool = False) -> dict[str, Any]:
    """Run (or resume) the study in ``run_dir``; returns the search's record (arch, trials, diagnostics)."""
    import optuna
    from optuna.trial import TrialState

    from archscout.experiment import ExperimentConfig, run_experiment
    from archscout.spaces import get_space

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sp = get_space("nb201")
    scores = None
    if cfg.prior == "random":
        scores = np.random.default_rng([cfg.seed, 7]).random(sp.size)
    options = {**task, "train": {**task["train"], "seed": cfg.seed}, "signal": cfg.signal,
               "min_epochs": cfg.min_epochs, "eta": cfg.eta, "threads": 1, "report_heldout": False}
    strategy = {"allowed": np.flatnonzero(allowed).tolist()}
    strategy.update({"scores": scores.tolist()} if scores is not None else {"prior": cfg.prior})
    exp = ExperimentConfig(space="nb201", dataset="cifar10", objectives=("valid_error",), strategy="prior",
                           strategy_options=strategy, n_trials=cfg.trials, seed=cfg.seed, name="search",
                           run_dir=Path(run_dir).parent, evaluator="train", evaluator_options=options,
                           executor="inline" if cfg.workers == 1 else "process", n_workers=cfg.workers)
    start = time.perf_counter()
    study = run_experiment(exp)
    trials = []
    for t in study.trials:
        if t.state != TrialState.COMPLETE:
            continue
        a = t.user_attrs["archscout"]
        rep = a.get("reported", {})
        trials.append({"trial": t.number, "arch": a["arch"], "arch_index": sp.index(sp.parse(a["arch"])),
                       "signal": 100.0 - a["metrics"]["valid_error"],
                       "epochs": int(rep.get("epochs_trained", 0)), "seconds": a.get("cost_s", 0.0),
                       "val_images": rep.get("val_images", 0.0)})
    if not trials:
        raise ArchscoutError("the multi-trial search finished no trial; see RUN/search/result.json")
    full = max(t["epochs"] for t in trials)
    finalists = [t for t in trials if t["epochs"] == full]
    first = min(finalists, key=lambda t: t["trial"])  # the earliest proposed: the prior's favourite
    best = max(finalists, key=lambda t: (t["signal"], -t["trial"]))
    margin = cfg.margin_se * _difference_se(first["signal"], best["signal"], first["val_images"])
    chosen = best if best["signal"] - first["signal"] > margin else first
    how = (f"best {cfg.signal} among the {len(finalists)} archs trained {full} epochs"
           if chosen is best else f"the prior's first of the {len(finalists)} archs trained {full} epochs: the best "
           f"{cfg.signal} ({best['signal']:.2f} %) beat its {first['signal']:.2f} % by no more than "
           f"{cfg.margin_se:g} standard error ({margin:.2f} points)")
    return {"arch": chosen["arch"], "arch_index": chosen["arch_index"], "trials": trials,
            "epochs_total": sum(t["epochs"] for t in trials), "seconds": sum(t["seconds"] for t in trials),
            "wall_seconds": time.perf_counter() - start, "signal": cfg.signal, "chosen_by": how,
            "margin_points": margin}


def _difference_se(p1: float, p2: float, n: float) -> float:
    """Standard error (points) of the difference of two accuracies (%) measured on ``n`` images each."""
    if not n:
        return 0.0
    a, b = p1 / 100.0, p2 / 100.0
    return 100.0 * ((a * (1 - a) + b * (1 - b)) / n) ** 0.5
