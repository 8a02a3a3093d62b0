"""``report.html`` of a main-job run: one self-contained file (PNG figures embedded as base64, no
scripts, no external files) with the numbers as a table, the selection rule and the split named."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from archscout.report._plots import FIGURES, entries, png_bytes, split_label
from archscout._io import atomic_write

CAPTIONS = {
    "accuracy": "In- vs out-of-distribution accuracy of the searched arch (star) and the baselines, all trained "
                "from scratch under the same training config.",
    "latency": "Latency on every device with a table (HW-NAS-Bench, HELP); the budget is the black bar on the "
               "target device (red label).",
    "search": "The search's trajectory: a one-shot method's architecture entropy and expected latency per "
              "epoch, or the archs a multi-trial method trained (signal on the training domains vs latency).",
    "cells": "The cells as graphs: nodes 0 (input) to 3 (output), one arrow per edge labelled with its op.",
    "curves": "Per-epoch accuracy while training from scratch (mean over seeds).",
}

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}td.cell{max-width:300px}td.cell code{word-break:break-all;font-size:11px}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:12px;background:#f6f6f6;padding:1px 3px}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;
font-weight:bold}figure{margin:14px 0}figcaption{font-size:13px;color:#444}img{max-width:100%;border:1px solid #eee}
.note{font-size:13px;color:#444}.flag{font-size:12px}
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 2, std: Any = None) -> str:
    if v is None:
        return "n/a"
    s = f"{v:.{digits}f}"
    return s + (f" ± {std:.{digits}f}" if std is not None else "")


def _summary_table(result: dict[str, Any]) -> str:
    budget = result.get("max_latency_ms")
    dev = result.get("device")
    head = ["arch", "cell", "NB201 #", "params", f"latency on {dev} (ms)", "within budget", "in-distribution %",
            "out-of-distribution %", "how it was found"]
    rows = []
    for i, r in enumerate(entries(result)):
        lat = r.get("latency_ms")
        within = "-" if budget is None or lat is None else (
            '<span class="ok">yes</span>' if lat <= budget else '<span class="bad">no</span>')
        found = r.get("found_by") or result.get("found_by", "")
        name = f"<b>{_e(r['name'])}</b>" if i == 0 else _e(r["name"])
        if r.get("degenerate"):
            name += f'<br><span class="bad flag">degenerate: {_e(r["degenerate"])}</span>'
        if r.get("disconnected"):
            found = f"{found} (output cut off from the input: chance accuracy)"
        rows.append(
            f"<tr><td>{name}</td><td class=cell><code>{_e(r.get('arch'))}</code></td><td class=num>{_e(r.get('arch_index'))}</td>"
            f"<td class=num>{_int(r.get('params'))}</td>"
            f"<td class=num>{_num(lat)}{' (predicted)' if r.get('latency_predicted') else ''}</td><td>{within}</td>"
            f"<td class=num>{_num(r.get('id_acc'), std=r.get('id_acc_std'))}</td>"
            f"<td class=num>{_num(r.get('ood_acc'), std=r.get('ood_acc_std'))}</td><td>{_e(found)}</td></tr>")
    return ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


def _int(v: Any) -> str:
    return "n/a" if v is None else f"{v:,}"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def _diagnostics_note(search: dict[str, Any]) -> str:
    """A sentence on whether the search decided the cell (``search.diagnostics``)."""
    d = search.get("diagnostics") or {}
    if d.get("learned") is False:
        why = {"penalty": "so the latency penalty, not the search, ordered the cells",
               "fallback": "and the derived cell was cut off, so a fallback cell was taken"}.get(d.get("decided_by"), "")
        return (f"<p class=bad><b>The search did not learn:</b> its architecture distribution ended at mean edge "
                f"entropy {_num(d.get('entropy_final'), 3)} against {_num(d.get('entropy_uniform'), 3)} for uniform, "
                f"{_e(why)} (decided by: {_e(d.get('decided_by'))}).</p>")
    if d.get("trials") is not None:
        return (f"<p>The search trained {d['trials']} architectures ({_e(d.get('epochs'))} epochs in all) on the "
                f"training domains; {_e(d.get('chosen_by'))}.</p>")
    if d.get("learned"):
        return (f"<p>The search learned: mean edge entropy {_num(d.get('entropy_final'), 3)} against "
                f"{_num(d.get('entropy_uniform'), 3)} for uniform (decided by: {_e(d.get('decided_by'))}).</p>")
    return ""


def _degenerate_note(result: dict[str, Any]) -> str:
    """A sentence per model whose ``degenerate`` flag is set (constant or chance-level), nothing if none."""
    bad = [(r["name"], r["degenerate"]) for r in entries(result) if r.get("degenerate")]
    if not bad:
        return ""
    items = "".join(f"<li><b>{_e(name)}</b>: {_e(why)}.</li>" for name, why in bad)
    return ("<div class=bad><p><b>Degenerate models:</b> these predict (nearly) one class or score at chance "
            f"level, so their accuracies do not show that they learned the task:</p><ul>{items}</ul></div>")


def render_html(result: dict[str, Any], images: dict[str, bytes]) -> str:
    """The report as one HTML string; ``images`` maps figure names to PNG bytes (embedded)."""
    d = result.get("data", {})
    seeds = result.get("seeds", [])
    onnx = result.get("onnx") or {}
    search = result.get("search") or {}
    budget = result.get("max_latency_ms")
    budget_txt = "none" if budget is None else f"{budget:g} ms ({_e(result.get('latency_metric'))})"
    meets = result.get("meets_budget")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>archscout: {_e(result.get('name'))}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>archscout main job: {_e(result.get('name'))}</h1>",
             f"<p>Searched <b>{_e(result.get('space'))}</b> with <b>{_e(result.get('method'))}</b> for device "
             f"<b>{_e(result.get('device'))}</b> under a latency budget of <b>{budget_txt}</b>, on "
             f"<b>{_e(split_label(result))}</b>; profile <b>{_e(result.get('profile'))}</b>, seeds {_e(seeds)}.</p>",
             f"<p>Result: <code>{_e(result.get('arch'))}</code> — {_num(result.get('latency_ms'))} ms "
             f"{'(predicted) ' if result.get('latency_predicted') else ''}on "
             f"{_e(result.get('device'))} "
             + ("" if meets is None else ('(<span class="ok">within budget</span>)' if meets else
                                           '(<span class="bad">over budget</span>)'))
             + f", in-distribution {_num(result.get('id_acc'))} %, out-of-distribution "
               f"{_num(result.get('ood_acc'))} %.</p>",
             _degenerate_note(result),
             _diagnostics_note(search),
             (f"<p class=note>Note: {_e(search.get('derivation'))} (the method derived "
              f"<code>{_e(search.get('derived_by_method'))}</code>).</p>"
              if str(search.get("derivation", "")).startswith("re-derived") else ""),
             f"<p><b>Model selection rule: {_e(result.get('selection_rule'))}</b> — the epoch is chosen on the "
             "training domains' held-out 20 % only; the held-out (test) domain is read for the final figures and "
             "the curves, never to choose anything.</p>",
             "<h2>Numbers</h2>", _summary_table(result),
             "<p class=note>Accuracies: mean over the seeds (± sample std when there are several), at the epoch the "
             "selection rule chose. Latency: HW-NAS-Bench's table value of the cell in NB201's CIFAR-10 network "
             "(what the budget constrains), not a measurement of the small trained model.</p>"]
    table = "HW-NAS-Bench / HELP tables (NB201, CIFAR-10 network)"
    for key, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{_e(key.capitalize())}</h2><figure><img alt='{_e(key)}' "
                     f"src='data:image/png;base64,{data}'><figcaption>{_e(CAPTIONS.get(key, ''))} Measured on: "
                     f"{_e(split_label(result) if key != 'latency' else table)}."
                     "</figcaption></figure>")
    parts.append("<h2>Search</h2>")
    base = search.get("baseline") or {}
    parts.append(_kv([("method", _e(result.get("method"))), ("search seconds", _num(search.get("seconds"), 1)),
                      ("cost term", _e(search.get("cost_term", ""))),
                      ("cell derived by the method", f"<code>{_e(search.get('derived_by_method'))}</code>"),
                      ("derivation", _e(search.get("derivation", ""))),
                      ("baseline search", _e(f"{base.get('method')}, no latency target, "
                                             f"{_num(base.get('seconds'), 1)} s -> {base.get('arch')} "
                                             f"({base.get('derivation')})"))]))
    parts.append("<h2>Deployable model</h2>")
    ok = onnx.get("passed")
    parts.append(_kv([
        ("model.pt", "<code>model.pt</code> (load with <code>archscout.train.load_model</code>; images in [0, 1])"),
        ("model.onnx", "<code>model.onnx</code> (input <code>images</code> (batch, C, H, W) in [0, 1], output "
                       "<code>logits</code>; batch axis dynamic)"),
        ("ONNX Runtime vs PyTorch", ('<span class="ok">verified</span>' if ok else '<span class="bad">FAILED</span>')
         + f": max abs diff {onnx.get('max_abs_diff', float('nan')):.2e} (tolerance {onnx.get('tolerance', 0):g}) "
           f"on {_e(onnx.get('images'))} images of {_e(onnx.get('data'))}; predicted class agrees on "
           f"{100 * onnx.get('argmax_agreement', 0):.1f} %"),
        ("params", _int(result.get("params"))),
    ]))
    parts.append("<h2>Data and protocol</h2>")
    parts.append(_kv([("suite", _e(d.get("suite"))), ("split", _e(f"{d.get('split')}: {d.get('description', '')}")),
                      ("training domains", _e(", ".join(d.get("train_domains", [])))),
                      ("held-out domain(s)", _e(", ".join(d.get("test_domains", [])))),
                      ("images per domain / size", _e(f"{d.get('per_domain')} / {d.get('image_size')}")),
                      ("training config", f"<code>{_e(result.get('train_config'))}</code>"),
                      ("versions", _e(", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items())))]))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: dict[str, Any], path: str | Path, figures_dir: str | Path | None = None) -> Path:
    """Render every figure of the run, write them as PNGs to ``figures_dir`` (when given) and the
    self-contained ``report.html`` to ``path`` (atomically)."""
    path = Path(path)
    images: dict[str, bytes] = {}
    for key, plot in FIGURES.items():
        images[key] = png_bytes(plot(result))
        if figures_dir is not None:
            Path(figures_dir).mkdir(parents=True, exist_ok=True)
            (Path(figures_dir) / f"{key}.png").write_bytes(images[key])
    return atomic_write(path, render_html(result, images))
