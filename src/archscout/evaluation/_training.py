"""The training evaluator: each arch is trained on the split's training domains, and the search signal
never reads the held-out domain.

``values`` (what a strategy sees): ``valid_acc`` (the chosen signal, %), ``valid_error`` (100 minus it),
``val_acc`` (training-domain validation), ``val_worst`` (the worst training domain's validation
accuracy), ``lodo_acc`` (leave-one-domain-out, when it is the signal) and the arch's costs from the
space's cost table. ``reported`` (never shown to a strategy): ``heldout_acc``, measured after training
on the held-out domain(s) at the epoch the signal's selection rule chose, and the epochs trained.

Multi-fidelity: with ``min_epochs``, a run stops at rungs ``min_epochs * eta**k`` (asynchronous
successive halving, as Optuna's ``SuccessiveHalvingPruner``): it goes on only if its signal is in the top
``1/eta`` of the values recorded at that rung by every arch of the run directory so far. Epochs are the
budget; the rung schedule is a prefix of the full ``epochs`` schedule, so a promoted run continues.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archscout._accelerator import resolve
from archscout._io import atomic_write_json, read_json
from archscout.evaluation._base import Evaluation, Evaluator
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.spaces import Arch, get_space

SIGNALS = {"val_acc": "training-domain validation accuracy (mean over the training domains' 20 % holdouts)",
           "val_worst": "the worst training domain's validation accuracy",
           "lodo_acc": "leave-one-domain-out accuracy (each training domain held out of a run of its own)"}
_SELECTION = {"val_acc": "training-domain", "val_worst": "training-domain", "lodo_acc": "leave-one-domain-out"}
RUNGS = "rungs.json"


@dataclass(frozen=True)
class TrainingTask:
    """What the training evaluator trains on: a suite's split and the training config (TrainConfig fields)."""

    suite: str = "fmnist-shift"
    split: str = "style-lodo-noise"
    data_root: str | None = None
    data_seed: int = 0
    per_domain: int | None = None
    image_size: int | None = 16
    train: dict[str, Any] = field(default_factory=dict)
    image_mode: str | None = None  # a folder's images converted to L, RGB or RGBA (None: their majority mode)

    def load(self):
        from archscout.data import load_split

        return load_split(self.suite, self.split, seed=self.data_seed, size=self.image_size,
                          per_domain=self.per_domain, root=self.data_root, mode=self.image_mode)


def _arch_key(space, arch: Arch) -> str:
    try:
        return f"{space.name}-{space.index(arch)}"
    except Exception:  # noqa: BLE001  (spaces without an index: a digest of the canonical string)
        return f"{space.name}-{hashlib.sha1(space.to_str(arch).encode()).hexdigest()[:16]}"


def _top(values: list[float], value: float, eta: int) -> bool:
    """Whether ``value`` is among the best ``max(1, n // eta)`` of ``values`` (it included)."""
    keep = max(1, len(values) // eta)
    return value >= sorted(values, reverse=True)[keep - 1]


class TrainingEvaluator(Evaluator):
    """Trains each arch with a ``TrainConfig`` on a split's training domains (see the module docstring).

    Args:
        space: the search space (its archs are built by ``space.build``).
        task: the suite, split and training config; or pass ``data`` (a ``DomainData``) and ``train``.
        signal: ``val_acc`` (default), ``val_worst`` or ``lodo_acc`` (see ``SIGNALS``).
        limits: ``{metric: bound}``: an arch whose table cost exceeds a bound is never trained (its
            ``valid_acc`` is 0 and ``reported["trained"]`` False; the search's constraint marks it
            infeasible).
        run_dir: per-arch run directories (each trial's training resumes; a finished one is read back).
        min_epochs, eta: multi-fidelity rungs (None: every arch trains ``epochs``).
        report_heldout: measure the held-out accuracy after training (``reported`` only).
        threads: torch threads of a training.
        accelerator, precision: where and how a training computes (``TrainConfig``'s); like ``threads``,
            not part of a study's identity. On a Ray cluster whose driver has no GPU, keep ``auto``: each
            actor then finds the GPU Ray gave it.

    Example:
        >>> ev = TrainingEvaluator("nb201", TrainingTask("digits-shift", "correlation", train={"epochs": 1}))
        >>> ev.evaluate(ev.space.from_index(11472)).values["valid_acc"]  # doctest: +SKIP
    """

    def __init__(self, space: str = "nb201", task: TrainingTask | None = None, *, data: Any = None,
                 signal: str = "val_acc", limits: dict[str, float] | None = None, run_dir: str | Path | None = None,
                 min_epochs: int | None = None, eta: int = 3, report_heldout: bool = True,
                 threads: int | None = 1, accelerator: str = "auto", precision: str = "fp32",
                 cost_dataset: str = "cifar10"):
        from archscout.train import TrainConfig

        if signal not in SIGNALS:
            raise UnknownNameError("search signal", signal, SIGNALS)
        self.space = get_space(space)
        self.task = task or TrainingTask()
        self.config = TrainConfig(**{**self.task.train, "threads": threads, "accelerator": accelerator,
                                     "precision": precision})
        resolve(accelerator)  # absent: one line here, in the driver, not a failed trial per arch
        if min_epochs is not None and not (isinstance(min_epochs, int) and 1 <= min_epochs):
            raise ArchscoutError(f"min_epochs {min_epochs!r} must be a positive number of epochs")
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ArchscoutError(f"eta {eta!r} must be an integer >= 2")
        self.signal, self.eta, self.report_heldout = signal, eta, report_heldout
        self.rungs = [] if min_epochs is None else \
            [min_epochs * eta ** k for k in range(64) if min_epochs * eta ** k < self.config.epochs]
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._data = data
        self.cost = None
        try:
            from archscout.hardware import get_cost_model

            self.cost = get_cost_model(space, cost_dataset)
        except (ArchscoutError, KeyError):
            pass  # a space without cost tables: accuracy only
        self._cost_metrics = () if self.cost is None else tuple(
            m for m in self.cost.metrics if m not in ("valid_acc", "train_acc", "test_acc"))
        self.limits = dict(limits or {})
        unknown = [m for m in self.limits if m not in self._cost_metrics]
        if unknown:
            raise UnknownNameError(f"cost metric of {space}", unknown[0], self._cost_metrics)

    @property
    def data(self):
        if self._data is None:
            self._data = self.task.load()
        return self._data

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("valid_acc", "valid_error", "val_acc", "val_worst") + \
            (("lodo_acc",) if self.signal == "lodo_acc" else ()) + self._cost_metrics

    def _costs(self, arch: Arch) -> dict[str, float]:
        return {} if self.cost is None else {m: float(v) for m, v in self.cost.query(arch, self._cost_metrics).items()}

    def _promoted(self, key: str, rung: int, value: float) -> bool:
        """Record this arch's signal at ``rung`` and decide (once: a resumed run keeps its decision)."""
        mine = self.run_dir / key / RUNGS if self.run_dir is not None else None
        state = read_json(mine, "rung record") if mine is not None and mine.exists() else {}
        if str(rung) in state:
            return bool(state[str(rung)]["promoted"])
        values = [value]
        if self.run_dir is not None:
            for path in self.run_dir.glob(f"*/{RUNGS}"):
                if path != mine:
                    try:
                        rec = json.loads(path.read_text()).get(str(rung))
                    except (OSError, ValueError):
                        continue
                    if rec is not None:
                        values.append(float(rec["value"]))
        promoted = len(values) < self.eta or _top(values, value, self.eta)
        if mine is not None:
            atomic_write_json(mine, {**state, str(rung): {"value": value, "promoted": promoted,
                                                          "compared_with": len(values) - 1}})
        return promoted

    def evaluate(self, arch: Arch, budget: Any = None) -> Evaluation:
        """Train ``arch`` (``budget``: epochs, else the config's) unless a cost limit rules it out."""
        from archscout.train import accuracy, train

        costs = self._costs(arch)
        over = {m: costs[m] for m, b in self.limits.items() if not costs[m] <= b}
        if over:  # infeasible: never trained
            return Evaluation({"valid_acc": 0.0, "valid_error": 100.0, "val_acc": 0.0, "val_worst": 0.0,
                               **({"lodo_acc": 0.0} if self.signal == "lodo_acc" else {}), **costs},
                              {"trained": 0.0, "epochs_trained": 0.0}, 0.0)
        config = self.config if budget is None else replace(self.config, epochs=int(budget))
        key = _arch_key(self.space, arch)
        run_dir = None if self.run_dir is None else self.run_dir / key
        start = time.perf_counter()
        for stop in [r for r in self.rungs if r < config.epochs] + [config.epochs]:
            result = train(self.space.name, arch, self.data, config, selection=_SELECTION[self.signal],
                           run_dir=run_dir, until=stop, heldout=False)
            value = self._signal(result)
            if stop == config.epochs or not self._promoted(key, stop, value):
                break
        rec = result.history[result.selected_epoch - 1]
        values = {"valid_acc": value, "valid_error": 100.0 - value, "val_acc": result.id_acc,
                  "val_worst": min(rec["val"].values()), **costs}
        if self.signal == "lodo_acc":
            values["lodo_acc"] = value
        val_images = sum(round(len(self.data.domains[d]) * self.config.holdout_fraction) for d in self.data.split.train)
        reported = {"trained": 1.0, "epochs_trained": float(result.epochs_trained), "params": float(result.params),
                    "selected_epoch": float(result.selected_epoch), "val_images": float(val_images)}
        if self.report_heldout:  # after training, with the selected model: never part of ``values``
            test = [accuracy(result.model, self.data.domains[d], self.config.eval_batch_size)
                    for d in self.data.split.test]
            reported["heldout_acc"] = statistics.fmean(test)
        seconds = sum(r["seconds"] for r in result.history) + sum(
            r["seconds"] for h in (result.lodo or {}).values() for r in h)
        return Evaluation(values, reported, seconds or time.perf_counter() - start)

    def _signal(self, result) -> float:
        if self.signal == "val_acc":
            return float(result.id_acc)
        if self.signal == "val_worst":
            return float(min(result.history[result.selected_epoch - 1]["val"].values()))
        e = result.selected_epoch - 1
        return float(statistics.fmean(h[e]["val"][d] for d, h in result.lodo.items()))
