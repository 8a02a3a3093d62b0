"""``result.json``: the machine-readable summary of a run (best arch or Pareto front, costs, seeds, versions)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import TrialState

from archscout._pareto import pareto_mask
from archscout.exceptions import ArchscoutError
from archscout.experiment._config import ExperimentConfig
from archscout.experiment._storage import redact
from archscout.experiment._store import TrialStore
from archscout.spaces import SearchSpace
from archscout._rundir import jsonable, versions, write_json

SPLITS = {
    "objectives": "what the search optimized: validation accuracy/error (never the test split) and costs",
    "reported": "shown for the chosen archs, never seen by the search (NB201: test accuracy)",
}


def _costs(space: SearchSpace, dataset: str, arch) -> dict[str, Any]:
    """Every metric the cost tables know for the arch (all devices), or {} when no table covers it."""
    try:
        from archscout.hardware import get_cost_model

        model = get_cost_model(space.name, dataset)
        return jsonable(model.query(arch))
    except ArchscoutError:
        return {}


def summarize(store: TrialStore, config: ExperimentConfig) -> dict[str, Any]:
    """The result of the run as a JSON-ready dict, from the store's view of the study (every driver's
    trials, as of its last step); only the chosen trials' attributes are read back."""
    space, led = store.space, store.ledger
    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()
    n_complete = sum(1 for t in led.trials.values() if t.state == TrialState.COMPLETE and not t.void)
    counts = {"complete": n_complete, "failed": led.n_finished - n_complete, "running": len(led.unfinished),
              "void": led.n_void}
    good = [o for o in led.history.observations if o.feasible]
    signs = np.array([1.0 if o.direction == "minimize" else -1.0 for o in objectives])
    best = []
    if good:
        points = np.array([o.values for o in good], dtype=float) * signs
        if len(objectives) == 1:
            best = [good[int(np.argmin(points[:, 0]))]]
        else:
            seen = set()
            for i in np.flatnonzero(pareto_mask(points)):
                if good[i].arch not in seen:
                    seen.add(good[i].arch)
                    best.append(good[i])
            best.sort(key=lambda o: o.values)

    def entry(obs) -> dict[str, Any]:
        tid, _, cons = led.complete[obs.arch]
        attrs = store.attrs_of(tid)
        out = {"trial": led.trials[tid].number, "arch": space.to_str(obs.arch)}
        if space.name == "nb201":
            out["index"] = space.index(obs.arch)
        out["objectives"] = jsonable({o.metric: v for o, v in zip(objectives, obs.values)})
        if constraints:
            out["constraints"] = jsonable({str(c): v for c, v in zip(constraints, cons)})
        out["reported"] = jsonable(attrs.get("reported", {}))
        out["cost_s"] = jsonable(attrs.get("cost_s"))
        out["costs"] = _costs(space, config.dataset, obs.arch)
        return out

    result: dict[str, Any] = {
        "name": config.name, "study": config.study_name,
        "storage": redact(config.storage_url()),
        "space": config.space, "dataset": config.dataset, "evaluator": config.evaluator,
        "strategy": config.strategy, "seed": config.seed, "n_trials": config.n_trials,
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
        "constraints": [str(c) for c in constraints],
        "trials": counts,
        "splits": SPLITS,
    }
    if len(objectives) == 1:
        result["best"] = entry(best[0]) if best else None
    else:
        result["pareto_front"] = [entry(o) for o in best]
    result["versions"] = versions()
    return result


def write_result(store: TrialStore, config: ExperimentConfig) -> dict[str, Any]:
    """Write ``runs/<name>/result.json`` unless it already holds a fuller view of the same study.

    Several drivers finish at about the same time, each with its own last look at the study: the
    file must end with the view that saw the most finished trials, whichever driver writes last."""
    result = summarize(store, config)
    path = config.run_path / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(".result.lock")):
        if _finished(result) >= _finished(_read(path), result):
            write_json(path, result)
    return result


def _finished(result: dict | None, same_as: dict | None = None) -> int:
    """Finished trials a summary saw (-1 if it is missing or summarizes another study)."""
    if not result or (same_as is not None and (result.get("study"), result.get("storage")) !=
                      (same_as.get("study"), same_as.get("storage"))):
        return -1
    trials = result.get("trials", {})
    return int(trials.get("complete", 0)) + int(trials.get("failed", 0))


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (POSIX flock; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
