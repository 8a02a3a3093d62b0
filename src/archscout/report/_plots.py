"""Figures of a main-job run (matplotlib, Agg, no pyplot state): accuracy in- vs out-of-distribution,
latency on every known device with the budget, NB201 cells drawn as graphs, training curves.

Every function takes the run's ``result.json`` content (a dict) and returns a ``Figure``; each figure
names the split (or the table) its numbers come from. ``png_bytes`` renders one to PNG.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.patches import Circle, FancyArrowPatch

COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), NB201's order


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (Agg canvas)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The searched arch first, then the baselines: each with ``name``, ``arch``, accuracies, latency."""
    main = {k: result.get(k) for k in ("arch", "arch_index", "latency_ms", "latency_predicted", "latency_all",
                                       "id_acc", "ood_acc", "id_acc_std", "ood_acc_std", "params", "curve",
                                       "selected_epoch", "disconnected", "degenerate")}
    main["name"] = result.get("name_of_arch") or f"{result.get('method', 'search')} (budget)"
    return [main, *result.get("baselines", [])]


def split_label(result: dict[str, Any]) -> str:
    """``suite / split (train domains -> test domains)``: what every accuracy figure names."""
    d = result.get("data", {})
    train, test = ", ".join(d.get("train_domains", [])), ", ".join(d.get("test_domains", []))
    return f"{d.get('suite', '?')} / split {d.get('split', '?')} (train: {train} -> held out: {test})"


def _std(v: Any) -> float:
    return 0.0 if v is None else float(v)


def plot_accuracy(result: dict[str, Any]) -> Figure:
    """In- vs out-of-distribution accuracy of every arch (mean, error bars = std over seeds)."""
    fig = Figure(figsize=(7.5, 7.2), layout="constrained")
    ax = fig.add_subplot()
    rows = entries(result)
    vals = [v for r in rows for v in (r.get("id_acc"), r.get("ood_acc")) if v is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 100.0)
    pad = max(2.0, 0.1 * (hi - lo))
    for i, r in enumerate(rows):
        if r.get("id_acc") is None:
            continue
        marker = "*" if i == 0 else "o"
        ax.errorbar(r["id_acc"], r["ood_acc"], xerr=_std(r.get("id_acc_std")), yerr=_std(r.get("ood_acc_std")),
                    fmt=marker, ms=16 if i == 0 else 9, color=COLOURS[i % len(COLOURS)], capsize=3,
                    label=f"{r['name']}: in {r['id_acc']:.1f} %, out {r['ood_acc']:.1f} %")
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="grey", lw=1, label="out = in (no shift loss)")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    d = result.get("data", {})
    ax.set_xlabel(f"in-distribution accuracy % (held-out 20 % of {', '.join(d.get('train_domains', []))})")
    ax.set_ylabel(f"out-of-distribution accuracy % ({', '.join(d.get('test_domains', []))})")
    seeds = result.get("seeds", [])
    ax.set_title(f"Accuracy in vs out of distribution\nmeasured on {split_label(result)}\n"
                 f"selection: {result.get('selection_rule', '?')}; {len(seeds)} seed(s), bars = std", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def _short(metric: str) -> str:
    return metric.replace("_latency", "")


def plot_latency(result: dict[str, Any]) -> Figure:
    """Latency of every arch on every known device (log scale), the budget marked on the target device."""
    rows = entries(result)
    metrics = list((rows[0].get("latency_all") or {}).keys())
    target = result.get("latency_metric")
    fig = Figure(figsize=(10.5, 0.42 * max(len(metrics), 4) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    n = len(rows)
    height = 0.8 / max(n, 1)
    for i, r in enumerate(rows):
        lat = r.get("latency_all") or {}
        ys = [k + (i - (n - 1) / 2) * height for k in range(len(metrics))]
        xs = [lat.get(m) for m in metrics]
        ax.barh([y for y, x in zip(ys, xs) if x is not None], [x for x in xs if x is not None], height=height,
                color=COLOURS[i % len(COLOURS)], label=r["name"])
    ax.set_yticks(range(len(metrics)))
    ax.set_yticklabels([_short(m) for m in metrics], fontsize=8)
    for tick, m in zip(ax.get_yticklabels(), metrics):
        if m == target:
            tick.set_fontweight("bold")
            tick.set_color("#d62728")
    ax.invert_yaxis()
    ax.set_xscale("log")
    budget = result.get("max_latency_ms")
    if target in metrics and budget is not None:
        k = metrics.index(target)
        ax.plot([budget, budget], [k - 0.5, k + 0.5], color="black", lw=2.5, zorder=5)
        ax.annotate(f"budget {budget:g} ms on {result.get('device')}", (budget, k - 0.5), xytext=(6, -2),
                    textcoords="offset points", fontsize=8, va="bottom")
    ax.set_xlabel("latency per image, ms (log scale)")
    ax.set_title("Latency on every known device (measured on: HW-NAS-Bench and HELP tables, the cell in NB201's\n"
                 "CIFAR-10 network, 32x32, C=16, N=5; batch 1 unless _bsN; no bar: no table value).\n"
                 "Not measured on the data split: a property of the cell.",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", which="both", alpha=0.25)
    return fig


def parse_nb201(arch: str) -> list[str]:
    """Op names of the 6 edges of an NB201 string, in ``NB201_EDGES`` order."""
    ops = []
    for node in arch.strip("|").split("|+|"):
        for tok in node.strip("|").split("|"):
            ops.append(tok.rsplit("~", 1)[0])
    return ops


def draw_cell(ax, arch: str, title: str = "") -> None:
    """An NB201 cell as a graph on ``ax``: nodes 0..3 on a line, one arrow per edge, labelled with its op
    (``none`` edges dotted and grey)."""
    ops = parse_nb201(arch)
    pos = {i: (float(i), 0.0) for i in range(4)}
    rad = {(1, 0): 0.0, (2, 1): 0.0, (3, 2): 0.0, (2, 0): -0.45, (3, 1): 0.45, (3, 0): -0.5}
    for (dst, src), op in zip(NB201_EDGES, ops):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        r = rad[(dst, src)]
        none = op == "none"
        arrow = FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={r}", arrowstyle="-|>",
                                mutation_scale=14, lw=1.0 if none else 1.8, ls=":" if none else "-",
                                color="#aaaaaa" if none else "#333333", shrinkA=14, shrinkB=14)
        ax.add_patch(arrow)
        dx, dy = x2 - x1, y2 - y1
        mx, my = (x1 + x2) / 2 + 0.5 * r * dy, (y1 + y2) / 2 - 0.5 * r * dx
        ax.text(mx, my, op.replace("nor_", ""), ha="center", va="center", fontsize=7.5,
                color="#999999" if none else "#000000",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#cccccc" if none else "#666666", "lw": 0.6})
    for i, (x, y) in pos.items():
        ax.add_patch(Circle((x, y), 0.13, fc="#fde9a9" if i in (0, 3) else "#dbe8f6", ec="#333333", zorder=4))
        ax.text(x, y, str(i), ha="center", va="center", fontsize=10, fontweight="bold", zorder=5)
    ax.text(0, -0.26, "input", ha="center", va="top", fontsize=7)
    ax.text(3, -0.26, "output", ha="center", va="top", fontsize=7)
    ax.set_xlim(-0.35, 3.35)
    ax.set_ylim(-0.95, 0.95)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8.5)


def plot_cells(result: dict[str, Any]) -> Figure:
    """The searched cell (first panel) and the baselines' cells, each as a graph."""
    rows = [r for r in entries(result) if r.get("arch")]
    cols = 2 if len(rows) > 1 else 1
    nrows = math.ceil(len(rows) / cols)
    fig = Figure(figsize=(5.2 * cols, 2.6 * nrows + 0.8), layout="constrained")
    for i, r in enumerate(rows):
        ax = fig.add_subplot(nrows, cols, i + 1)
        idx = f" (NB201 #{r['arch_index']})" if r.get("arch_index") is not None else ""
        draw_cell(ax, r["arch"], f"{r['name']}{idx}")
    d = result.get("data", {})
    fig.suptitle(f"Cells: the searched one (first) derived on the training domains of {d.get('suite', '?')} / "
                 f"{d.get('split', '?')}\n(searched on {', '.join(d.get('train_domains', []))}; the held-out "
                 "domain never read by the search); node j = sum of op(node i) over its incoming edges", fontsize=9)
    return fig


def plot_curves(result: dict[str, Any]) -> Figure:
    """Per-epoch training, in-distribution and out-of-distribution accuracy of every arch (mean over
    seeds); the dashed line marks the epoch the selection rule chose."""
    rows = [r for r in entries(result) if r.get("curve")]
    cols = 2 if len(rows) > 1 else 1
    nrows = max(1, math.ceil(len(rows) / cols))
    fig = Figure(figsize=(5.2 * cols, 3.2 * nrows + 0.9), layout="constrained")
    for i, r in enumerate(rows):
        ax = fig.add_subplot(nrows, cols, i + 1)
        curve = r["curve"]
        ep = [c["epoch"] for c in curve]
        for key, label, colour in (("train_acc", "train (augmented batches)", "#7f7f7f"),
                                   ("id_acc", "in-distribution (validation)", "#1f77b4"),
                                   ("ood_acc", "out-of-distribution (held-out domain)", "#d62728")):
            ax.plot(ep, [c.get(key) for c in curve], marker="o", ms=3, label=label, color=colour)
        if r.get("selected_epoch"):
            ax.axvline(r["selected_epoch"], ls="--", color="black", lw=1, label="selected epoch")
        ax.set_title(r["name"], fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("accuracy %")
        ax.grid(alpha=0.3)
        if i == 0:
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=8,
                       frameon=False)
    fig.suptitle(f"Training curves (from scratch), measured on {split_label(result)}\nselection: "
                 f"{result.get('selection_rule', '?')} (the held-out curve is shown, never used to select)", fontsize=9)
    return fig


def plot_search(result: dict[str, Any]) -> Figure:
    """The search's trajectory: a one-shot method's mean edge entropy and expected cost per epoch (uniform's
    entropy marked), or a multi-trial method's trials: signal against latency, marked by epochs trained."""
    search = result.get("search") or {}
    diag = search.get("diagnostics") or {}
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    budget, device = result.get("max_latency_ms"), result.get("device")
    trials = search.get("trials") or []
    if trials:
        full = max(t["epochs"] for t in trials)
        for t in trials:
            chosen = t["arch"] == result.get("arch")
            ax.scatter(t.get("latency_ms"), t["signal"], s=200 if chosen else 30 + 60 * t["epochs"] / max(full, 1),
                       marker="*" if chosen else "o", color="#d62728" if chosen else "#1f77b4",
                       alpha=1.0 if t["epochs"] == full else 0.45, zorder=3)
        if budget is not None:
            ax.axvline(budget, color="black", lw=1.5, ls="--", label=f"budget {budget:g} ms")
        ax.scatter([], [], color="#1f77b4", label="trained arch (faded: stopped at a rung)")
        ax.scatter([], [], color="#d62728", marker="*", s=120, label="chosen")
        ax.set_xlabel(f"latency on {device}, ms (table)")
        ax.set_ylabel(f"search signal: {search.get('config', {}).get('signal', 'val_acc')} %")
        how = textwrap.fill(f"chosen: {diag.get('chosen_by', '')}", 110)
        ax.set_title(f"Search trajectory: {len(trials)} archs trained, {diag.get('epochs')} epochs in all, on the "
                     f"training domains only\n{how}\n{split_label(result)}", fontsize=8.5)
        ax.legend(fontsize=8)
    else:
        hist = [h for h in search.get("history") or [] if h.get("entropy") is not None]
        ep = [h.get("epoch", i + 1) for i, h in enumerate(hist)]
        ax.plot(ep, [h["entropy"] for h in hist], marker="o", color="#1f77b4", label="mean edge entropy")
        if diag.get("entropy_uniform") is not None:
            ax.axhline(diag["entropy_uniform"], ls=":", color="#1f77b4", label="uniform (nothing learned)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("entropy (nats)")
        cost = [h.get("expected_cost") for h in hist]
        if any(c is not None for c in cost):
            ax2 = ax.twinx()
            ax2.plot(ep, cost, marker="s", color="#d62728", label="expected latency (ms)")
            if budget is not None:
                ax2.axhline(budget, ls="--", color="#d62728", lw=1, label=f"budget {budget:g} ms")
            ax2.set_ylabel(f"expected latency on {device}, ms")
            ax2.legend(fontsize=8, loc="lower right")
        verdict = {True: "learned", False: "did NOT learn", None: "n/a"}[diag.get("learned")]
        ax.set_title(f"Search trajectory ({result.get('method')}): {verdict}; cell decided by "
                     f"{diag.get('decided_by', '?')}\n{split_label(result)}", fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return fig


FIGURES = {"accuracy": plot_accuracy, "search": plot_search, "latency": plot_latency, "cells": plot_cells,
           "curves": plot_curves}
