"""Stage 1 (and 2): a search under the budget, run or read back; the connected re-derivation of a cell cut
off from its input; and the diagnostics that say whether the search decided the cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from archscout._rundir import RESULT, read_done, write_json
from archscout.pipeline._cells import connected_derivation
from archscout.pipeline._config import Log
from archscout.pipeline._multitrial import run_train_search

SEARCH_RECORD = "search.json"


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


def one_shot_search(method, space: str, data, cfg, cost, sdir: Path, progress: bool, say: Log, line: str) -> dict[str, Any]:
    """Run (or read back) one one-shot search; returns its result.json content plus ``ran``."""
    path = sdir / RESULT
    out = read_done(path, ("arch", "seconds"))
    if out is not None:
        say(f"{line}: done earlier ({out['seconds']:.0f} s) -> {out['arch']}")
        return {**out, "ran": False}
    say(f"{line} ...")
    result = method.search(space, data, cfg, cost=cost, run_dir=sdir, progress=progress)
    out = read_done(path) or result.to_dict()
    lat = ""
    if cost is not None and result.cost is not None and result.cost.get("value") is not None:
        lat = f" ({cost.metric} {result.cost['value']:.2f} ms)"
    say(f"{line}: {result.seconds:.0f} s -> {result.arch_str}{lat}")
    return {**out, "ran": True}


def multi_trial_search(cfg, task: dict[str, Any], allowed: np.ndarray, sdir: Path, progress: bool, say: Log,
                       line: str) -> dict[str, Any]:
    """Run (or read back) a multi-trial search on the training evaluator: the archs within the budget
    (the same rule as the one-shot searches' hard constraint), trained on the training domains only."""
    path = sdir / SEARCH_RECORD  # the study's own result.json sits beside it
    out = read_done(path, ("arch", "seconds", "trials"))
    if out is not None:
        say(f"{line}: done earlier ({out['seconds']:.0f} s) -> {out['arch']}")
        return {**out, "ran": False}
    say(f"{line} ...")
    out = run_train_search(cfg, task, allowed, sdir, progress)
    out["history"] = []
    write_json(path, out)
    say(f"{line}: {len(out['trials'])} archs, {out['epochs_total']} epochs in {out['wall_seconds']:.0f} s -> "
        f"{out['arch']} ({out['chosen_by']})")
    return {**out, "ran": True}


def connect(found: dict[str, Any], cost: Any, say: Log, tag: str) -> None:
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
