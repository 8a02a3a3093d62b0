"""The bench's outputs: a rich table, CSV files (summary and anytime curves) and a PNG of the curves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from archscout.experiment import BenchResult


def _pm(stat: dict[str, float], digits: int = 2) -> str:
    return f"{stat['mean']:.{digits}f}±{stat['std']:.{digits}f}"


def bench_table(result: BenchResult):
    """A rich Table: one row per strategy, the figures of ``result.summary()``."""
    from rich.table import Table

    task, summary, marks = result.task, result.summary(), result.checkpoints()
    objectives = ", ".join(f"{o.direction} {o.metric}" for o in task.objectives)
    title = (f"{task.space.name} / {task.dataset}: {objectives}; {len(result.seeds)} seeds x {result.budget} "
             "queries, mean±std over seeds")
    if result.multi_objective:
        caption = (f"HV@b: hypervolume ratio to the exact front (objectives normalized by the table's range) "
                   f"after b queries; front@b: share of the {len(task.front)} front archs found")
    else:
        caption = ("to best: median queries until the best-valid arch was found (share of seeds that found it); "
                   "regret@b: best valid found vs the table's best, after b queries; test@b: test accuracy of "
                   "the arch chosen by validation")
    table = Table(title=title, caption=caption)
    table.add_column("strategy")
    if result.multi_objective:
        for b in marks:
            table.add_column(f"HV@{b}", justify="right")
        table.add_column(f"front@{result.budget}", justify="right")
    else:
        table.add_column("to best", justify="right")
        for b in marks:
            table.add_column(f"regret@{b}", justify="right")
        table.add_column(f"test@{result.budget}", justify="right")
    table.add_column("s", justify="right")
    for name, e in summary.items():
        if result.multi_objective:
            cells = [_pm(e["hypervolume_ratio"][str(b)], 3) for b in marks] + [_pm(e["front_share"])]
        else:
            med = e["median_queries_to_best"]
            cells = [f"{'>' + str(result.budget) if med is None else f'{med:g}'} ({e['found_best']:.0%})"]
            cells += [_pm(e["regret"][str(b)]) for b in marks]
            cells.append(_pm(e["reported_test_acc"][str(result.budget)], 2))
        table.add_row(name, *cells, f"{e['seconds']:.1f}")
    return table


def write_bench_csv(result: BenchResult, out_dir: Path) -> list[Path]:
    """``summary.csv`` (strategy x checkpoint) and ``curves.csv`` (strategy x query: mean, std, quartiles)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path, curves_path = out_dir / "summary.csv", out_dir / "curves.csv"
    with summary_path.open("w", newline="") as f:
        w = csv.writer(f)
        if result.multi_objective:
            w.writerow(["strategy", "queries", "hv_ratio_mean", "hv_ratio_std", "front_share_mean", "seconds"])
        else:
            w.writerow(["strategy", "queries", "regret_mean", "regret_std", "test_acc_mean", "test_acc_std",
                        "median_queries_to_best", "found_best", "seconds"])
        for name, e in result.summary().items():
            for b in result.checkpoints():
                if result.multi_objective:
                    hv = e["hypervolume_ratio"][str(b)]
                    w.writerow([name, b, hv["mean"], hv["std"], e["front_share"]["mean"], e["seconds"]])
                else:
                    r, t = e["regret"][str(b)], e["reported_test_acc"][str(b)]
                    w.writerow([name, b, r["mean"], r["std"], t["mean"], t["std"], e["median_queries_to_best"],
                                e["found_best"], e["seconds"]])
    with curves_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "queries", "mean", "std", "q25", "median", "q75"])
        for name in result.rows:
            grid, vals = result.curve(name)
            q25, med, q75 = np.percentile(vals, [25, 50, 75], axis=0)
            for j, b in enumerate(grid):
                w.writerow([name, int(b), vals[:, j].mean(), vals[:, j].std(), q25[j], med[j], q75[j]])
    return [summary_path, curves_path]


def plot_bench(result: BenchResult, path: Path) -> Path:
    """Anytime curves of every strategy (median over seeds, band = 25-75 % of seeds), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name in result.rows:
        grid, vals = result.curve(name)
        q25, med, q75 = np.percentile(vals, [25, 50, 75], axis=0)
        (line,) = ax.plot(grid, med, label=name, lw=1.5)
        ax.fill_between(grid, q25, q75, color=line.get_color(), alpha=0.15, lw=0)
    task = result.task
    if result.multi_objective:
        ax.set_ylabel("hypervolume ratio to the exact front")
        ax.set_ylim(max(0.0, min(ax.get_ylim()[0], 0.9)), 1.001)
    else:
        ax.set_ylabel(f"regret of {task.objectives[0].metric} (points)")
        ax.set_yscale("symlog", linthresh=0.01)
    ax.set_xlabel("queries")
    ax.set_title(f"{task.space.name} / {task.dataset}, {len(result.seeds)} seeds: median, band 25-75 % of seeds",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
