"""``archscout search``: a multi-trial architecture search on an Optuna study (resumable, parallel)."""

from __future__ import annotations

import json
from typing import Any

import click

from archscout.cli._app import cli
from archscout.exceptions import ArchscoutError

_DATASETS = {"nb201": "cifar10", "fbnet": "cifar100"}


class _Count(click.ParamType):
    """A plain ASCII integer (``int()`` would also take '٣' or '1_000')."""

    name = "integer"

    def convert(self, value: Any, param, ctx) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        from archscout.spaces._base import is_int

        text = str(value).strip()
        if not is_int(text, signed=True):
            self.fail(f"{value!r} is not an integer", param, ctx)
        return int(text)


COUNT = _Count()


@cli.command("search")
@click.option("--multi-trial", is_flag=True, help="Multi-trial search: evaluate archs one by one (required "
              "today; one-shot search comes later).")
@click.option("--space", default="nb201", show_default=True, help="Search space: nb201 or fbnet.")
@click.option("--dataset", default=None, help="nb201: cifar10 (default), cifar100, ImageNet16-120; "
              "fbnet: cifar100 (default), ImageNet.")
@click.option("--objective", "objectives", multiple=True,
              help="Metric to optimize (repeatable): valid_error (default on nb201), latency@raspi4, params, ...")
@click.option("--constraint", "constraints", multiple=True, help="'metric <= bound' (repeatable), e.g. "
              "'latency@raspi4 <= 8'.")
@click.option("--strategy", default="rea", show_default=True,
              help="random, random-noreplace, rea, ls, mo-ls, bananas, ... or optuna-random/-tpe/-nsga2.")
@click.option("--trials", type=COUNT, default=100, show_default=True,
              help="Budget: trials in the study (earlier runs and other workers included).")
@click.option("--seed", type=COUNT, default=0, show_default=True, help="Seed of the strategy (a driver joining "
              "a running study, or resuming one, draws a stream of its own).")
@click.option("--name", default=None, help="Run name (directory and study); default space-dataset-strategy-seed.")
@click.option("--run-dir", default="runs", show_default=True, help="Parent of the run directory.")
@click.option("--storage", default=None, help="Default: RUN_DIR/NAME/study.db (SQLite). Or an SQLAlchemy URL "
              "(postgresql+psycopg2://user@host/db), journal:PATH, memory.")
@click.option("--evaluator", default="tabular", show_default=True, help="Evaluator by name (tabular: NB201 "
              "accuracy and cost tables, FBNet cost tables).")
@click.option("--executor", default=None, help="inline (default with 1 worker), process (default with "
              "several), ray.")
@click.option("--workers", type=COUNT, default=1, show_default=True, help="Evaluations in flight.")
@click.option("--ray-address", default=None, help="Ray cluster to join (executor ray); local Ray otherwise.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json (no progress bar).")
def search(multi_trial: bool, space: str, dataset: str | None, objectives: tuple[str, ...],
           constraints: tuple[str, ...], strategy: str, trials: int, seed: int, name: str | None, run_dir: str,
           storage: str | None, evaluator: str, executor: str | None, workers: int, ray_address: str | None,
           as_json: bool) -> None:
    """Search for architectures; re-running the same command resumes the run.

    Writes RUN_DIR/NAME/: config.json, study.db (the Optuna study; optuna-dashboard reads it) and
    result.json (the best arch or the Pareto front, objectives, test accuracy, costs on every
    device, seed, versions). Several copies of the command on one --storage share the budget.
    """
    if not multi_trial:
        raise ArchscoutError("one-shot search comes with a later release; run a multi-trial search with "
                             "'archscout search --multi-trial ...'")
    from archscout.experiment import ExperimentConfig

    if dataset is None:
        dataset = _DATASETS.get(space, "cifar10")
    if not objectives:
        if space == "fbnet":
            raise ArchscoutError("fbnet has cost tables but no accuracy: give --objective (e.g. latency@raspi4)")
        objectives = ("valid_error",)
    config = ExperimentConfig(
        space=space, dataset=dataset, objectives=objectives, constraints=constraints, strategy=strategy,
        n_trials=trials, seed=seed, name=name or f"{space}-{dataset}-{strategy}-seed{seed}", run_dir=run_dir,
        storage=storage, evaluator=evaluator, executor=executor or ("inline" if workers == 1 else "process"),
        n_workers=workers, ray_address=ray_address)
    result = _run(config, progress=not as_json)
    if as_json:
        click.echo(json.dumps(result))
    else:
        _print_result(result, config)


def _run(config, progress: bool) -> dict:
    import optuna

    from archscout.experiment import run_experiment

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not progress:
        run_experiment(config)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"{config.name}", total=config.n_trials, best="-")

            def show(p) -> None:
                bar.update(task, completed=p.done, total=p.total, best=p.best)

            run_experiment(config, progress=show)
    return json.loads((config.run_path / "result.json").read_text())


def _print_result(result: dict, config) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = [result["best"]] if result.get("best") else result.get("pareto_front", [])
    title = "best architecture" if "best" in result else f"Pareto front ({len(rows)} architectures)"
    table = Table(title=f"{config.name}: {title}")
    metrics = [o["metric"] for o in result["objectives"]]
    for col in ["trial", "arch", *metrics, "test_acc"]:
        table.add_column(col, overflow="fold")
    for r in rows:
        test = r.get("reported", {}).get("test_acc")
        table.add_row(str(r["trial"]), r["arch"], *[f"{r['objectives'][m]:.6g}" for m in metrics],
                      "-" if test is None else f"{test:.2f}")
    if rows:
        console.print(table)
    else:
        console.print("no feasible architecture found yet")
    t = result["trials"]
    console.print(f"trials: {t['complete']} complete, {t['failed']} failed, {t['running']} running elsewhere; "
                  f"run directory: {config.run_path} (config.json, result.json; study: {result['storage']})",
                  soft_wrap=True)
