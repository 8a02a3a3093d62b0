"""``archscout bench``: strategies x seeds x budget on a tabular benchmark, simulated."""

from __future__ import annotations

import json
from pathlib import Path

import click

from archscout.cli._app import cli
from archscout.exceptions import ArchscoutError


def _positive(name: str, value: int) -> int:
    if value <= 0:
        raise ArchscoutError(f"{name} {value} must be a positive number")
    return value


@cli.command("bench")
@click.option("--space", default="nb201", show_default=True, help="A space with a complete table: nb201.")
@click.option("--dataset", default="cifar10", show_default=True, help="cifar10, cifar100 or ImageNet16-120.")
@click.option("--objective", "objectives", multiple=True,
              help="Repeatable; default valid_acc. Two or more make a Pareto bench, e.g. "
                   "--objective valid_error --objective latency@raspi4.")
@click.option("--constraint", "constraints", multiple=True, help="Repeatable, e.g. 'latency@raspi4 <= 8'.")
@click.option("--strategies", default="all", show_default=True,
              help="Comma-separated names (archscout's and optuna-*), or 'all' that fit the objectives.")
@click.option("--seeds", default=20, show_default=True, type=int, help="Runs per strategy (seeds 0..N-1).")
@click.option("--budget", default=300, show_default=True, type=int, help="Queries per run (repeats count).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for summary.csv, curves.csv and anytime.png [runs/bench/<space>-<dataset>].")
@click.option("--jobs", default=1, show_default=True, type=int, help="Processes to spread the runs over.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the figures per strategy).")
def bench(space, dataset, objectives, constraints, strategies, seeds, budget, out, jobs, as_json) -> None:
    """Compare strategies on a tabular benchmark: anytime regret (or hypervolume), many seeds, in seconds.

    Search signal = validation accuracy; reported = test accuracy of the arch chosen by validation.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from archscout.experiment import TabularTask, bench_strategies, run_bench
    from archscout.report import bench_table, plot_bench, write_bench_csv

    _positive("budget", budget)
    _positive("--seeds", seeds)
    _positive("--jobs", jobs)
    task = TabularTask.create(space, dataset, objectives or ("valid_acc",), constraints)
    asked = [s.strip() for s in strategies.split(",") if s.strip()]
    if not asked:
        raise ArchscoutError(f"--strategies {strategies!r} names no strategy: give names separated by commas, or 'all'")
    if out is not None and out.exists() and not out.is_dir():
        raise ArchscoutError(f"--out {out} is a file: give a folder (the tables and the plot go into it)")
    names = bench_strategies(asked, len(task.objectives))
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        bar = progress.add_task("bench", total=len(names) * seeds)

        def tick(strategy: str, seed: int) -> None:
            progress.update(bar, advance=1, description=f"{strategy} seed {seed}")

        result = run_bench(task, names, list(range(seeds)), budget, progress=tick, jobs=jobs)
    out = out or Path("runs") / "bench" / f"{space}-{dataset}"
    files = [*write_bench_csv(result, out), plot_bench(result, out / "anytime.png")]
    if as_json:
        summary = result.summary()
        per: dict = {}
        for name, e in summary.items():
            if result.multi_objective:
                per[name] = {"hypervolume_ratio": {b: v["mean"] for b, v in e["hypervolume_ratio"].items()},
                             "front_share": e["front_share"]["mean"]}
            else:
                per[name] = {"median_queries_to_best": e["median_queries_to_best"], "found_best": e["found_best"],
                             "regret": {b: v["mean"] for b, v in e["regret"].items()},
                             "reported_test_acc": {b: v["mean"] for b, v in e["reported_test_acc"].items()}}
            per[name]["seconds"] = e["seconds"]
        click.echo(json.dumps({
            "space": space, "dataset": dataset, "objectives": [o.metric for o in task.objectives],
            "constraints": [str(c) for c in task.constraints], "seeds": seeds, "budget": budget,
            "front_size": len(task.front) if result.multi_objective else None,
            "strategies": per, "files": [str(f) for f in files],
        }))
        return
    console = Console()
    console.print(bench_table(result))
    console.print(f"wrote {', '.join(str(f) for f in files)}", soft_wrap=True)
