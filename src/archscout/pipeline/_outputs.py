"""Stages 4 and 5: the derived arch's model exported to ONNX and verified, then ``result.json`` and
``report.html`` assembled from the stages' records."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from archscout._accelerator import describe, resolve
from archscout._io import atomic_write
from archscout._rundir import RESULT, jsonable, versions, write_json
from archscout.pipeline._cells import budget_latency, latency_metrics
from archscout.pipeline._config import MODEL_PT, Log, MainJobConfig
from archscout.pipeline._search_stage import diagnostics
from archscout.pipeline._settings import strip_run_only

REPORT = "report.html"
MODEL_ONNX = "model.onnx"
VERIFY_IMAGES = 256


def export(run: Path, derived: dict[str, Any], data, say: Log, ran: list[str]) -> dict[str, Any]:
    """Copy the derived arch's model (first seed) to RUN/model.pt; export RUN/model.onnx (unless it is
    already there and newer) and verify it on held-out images (always: it is cheap)."""
    import torch

    from archscout.train import export_onnx, load_model, verify_onnx

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


def assemble(config: MainJobConfig, data, cost, found, bfound, derived, baselines, check, tcfg, scfg, bcfg) -> dict:
    metric = cost.metric
    budget = config.max_latency
    source = "HW-NAS-Bench/HELP tables"
    if f"{metric}_predicted" in latency_metrics(predicted=True):
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
                    "config": strip_run_only(scfg.to_dict()), "cost": found.get("cost"),
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
                                 "config": strip_run_only(bcfg.to_dict())}}
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
        "degenerate": d["degenerate"],
        "params": d["params"], "disconnected": d["disconnected"], "per_seed": d["per_seed"], "curve": d["curve"],
        "nb201_reported": d["nb201_reported"],
        "search_seconds": found["seconds"], "train_seconds": d["train_seconds"],
        "baselines": [{k: v for k, v in b.items() if k != "model_path"} for b in baselines],
        "search": search_block, "onnx": check,
        "data": {"suite": data.name, "split": data.split.name, "description": data.split.description,
                 "train_domains": list(data.split.train), "test_domains": list(data.split.test),
                 "per_domain": data.meta.get("per_domain"), "image_size": data.meta.get("image_size"),
                 "image_mode": data.meta.get("image_mode"), "data_seed": data.meta.get("seed"),
                 "classes": len(data.classes),
                 "excluded_unseen_classes": data.meta.get("excluded_unseen_classes")},
        "train_config": {**strip_run_only(tcfg.to_dict(), "seed"), "net": tcfg.net_config(config.space)},
        "files": {"result": RESULT, "report": REPORT, "model": MODEL_PT, "onnx": MODEL_ONNX, "figures": "figures/",
                  "search": "search/", "baseline_search": "baseline-search/", "training_runs": "train/"},
        "versions": versions(),
        "compute": describe(resolve(config.accelerator), config.precision),
    }


def write_outputs(run: Path, result: dict[str, Any], say: Log, ran: list[str]) -> None:
    """result.json (always, atomically) and report.html (when missing or when result.json changed)."""
    from archscout.report import write_report

    result = jsonable(result)
    path = run / RESULT
    stable = {k: v for k, v in result.items() if k != "stage_seconds"}
    old = None
    if path.exists():
        try:  # the job's own summary, made again from the stages: a corrupt one is rewritten
            old = {k: v for k, v in json.loads(path.read_text()).items() if k != "stage_seconds"}
        except (ValueError, AttributeError):
            old = None
    if old == stable and (run / REPORT).exists():
        say(f"[5/5] report: {run / REPORT} up to date")
        return
    write_json(path, result)
    write_report(result, run / REPORT, run / "figures")
    ran.append("report")
    say(f"[5/5] report: {run / REPORT}, {path}")
