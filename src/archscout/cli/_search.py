"""``archscout search``: a multi-trial architecture search on an Optuna study (resumable, parallel)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from archscout.cli._app import cli, compute_options, image_mode_option
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


# Options of the main job (archscout search without --multi-trial); none of them applies to --multi-trial.
_MAIN_OPTIONS = ("suite", "split", "data_root", "data_seed", "per_domain", "image_size", "image_mode", "device",
                 "max_latency",
                 "method", "baseline_method", "profile", "seeds", "threads", "accelerator", "precision")
# Options of the multi-trial search only.
_MULTI_OPTIONS = ("dataset", "objectives", "constraints", "strategy", "trials", "seed", "storage", "evaluator",
                  "executor", "ray_address", "gpus_per_trial", "signal", "min_epochs")
# Main-job options that also set the training evaluator's task (--multi-trial --evaluator train).
_TRAIN_TASK_OPTIONS = ("suite", "split", "data_root", "data_seed", "per_domain", "image_size", "image_mode", "profile",
                       "threads",
                       "accelerator", "precision")


@cli.command("search")
@click.option("--multi-trial", is_flag=True, help="Multi-trial search on the NB201/FBNet tables (evaluate archs "
              "one by one). Without it: the main job (one-shot search under a latency budget, training, "
              "baselines, model.onnx, report.html).")
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
              "accuracy and cost tables, FBNet cost tables; train: each arch trained on --suite/--split, "
              "--profile sizes it).")
@click.option("--signal", default=None, help="[--evaluator train] Search signal: val_acc (training-domain validation), "
              "val_worst or lodo_acc (leave-one-domain-out) [val_acc]; the held-out domain is never read.")
@click.option("--min-epochs", type=COUNT, default=None, help="[--evaluator train] Multi-fidelity: successive-halving "
              "rungs at MIN_EPOCHS x 3^k epochs (off by default).")
@click.option("--executor", default=None, help="inline (default with 1 worker), process (default with "
              "several), ray.")
@click.option("--workers", type=COUNT, default=None, help="Evaluations in flight [1]; main job: trainings at "
              "once (its search's trials, its baselines) [2].")
@click.option("--ray-address", default=None, help="Ray cluster to join (executor ray); local Ray otherwise.")
@click.option("--gpus-per-trial", type=click.FloatRange(min=0), default=None, help="[executor ray] GPUs reserved for "
              "each training (fractions allowed: 0.25 runs four on one GPU) [0].")
@click.option("--suite", default=None, help="[main job] Shift suite (fmnist-shift, digits-shift), a folder in "
              "DomainBed's layout ROOT/DOMAIN/CLASS/IMAGE, or PACS/VLCS/... with --data-root [fmnist-shift].")
@click.option("--split", default=None, help="[main job] Split [style-lodo-noise; a folder: lodo-<its last domain>].")
@click.option("--data-root", default=None, help="[main job] Folder of the suite's source (Fashion-MNIST's idx files) "
              "or of a named DomainBed dataset.")
@click.option("--data-seed", type=click.IntRange(min=0), default=None,
              help="[main job] Seed of the generated domains [0].")
@click.option("--per-domain", type=click.IntRange(min=2), default=None, help="[main job] Images per domain "
              "[suite default; smoke: 60].")
@click.option("--image-size", type=click.IntRange(min=4), default=None, help="[main job] Image size [16; paper: 32].")
@image_mode_option
@click.option("--device", default=None, help="[main job] Target device of the latency budget: any registry device "
              "(archscout hw devices), a measured one included [raspi4].")
@click.option("--max-latency", default=None, help="[main job] Latency budget in ms on --device, or 'none' [20].")
@click.option("--method", default=None, help="[main job] The search: prior-sh or random-sh (archs trained on the "
              "training domains, successive halving) or a one-shot method (nasood, darts, gdas, ...) [prior-sh].")
@click.option("--baseline-method", default=None, help="[main job] One-shot method of the no-budget baseline "
              "(darts or gdas) [darts].")
@click.option("--profile", default=None, help="[main job] cpu (minutes on 2 cores), paper (published sizes) or "
              "smoke (every stage tiny) [cpu].")
@click.option("--seeds", type=COUNT, default=None, help="[main job] Training seeds 0..N-1 of every arch (mean and "
              "std over them; the searches use seed 0) [1].")
@click.option("--threads", type=COUNT, default=None, help="[main job] Torch threads [1].")
@compute_options
@click.option("--json", "as_json", is_flag=True, help="Print result.json (multi-trial; no progress bar) or the main "
              "job's summary of it.")
@click.pass_context
def search(ctx: click.Context, multi_trial: bool, space: str, dataset: str | None, objectives: tuple[str, ...],
           constraints: tuple[str, ...], strategy: str, trials: int, seed: int, name: str | None, run_dir: str,
           storage: str | None, evaluator: str, signal: str | None, min_epochs: int | None, executor: str | None,
           workers: int, ray_address: str | None, suite: str | None, split: str | None, data_root: str | None, data_seed: int | None,
           per_domain: int | None, image_size: int | None, image_mode: str | None, device: str | None,
           max_latency: str | None, method: str | None, baseline_method: str | None, profile: str | None, seeds: int | None,
           threads: int | None, accelerator: str | None, precision: str | None, gpus_per_trial: float | None,
           as_json: bool) -> None:
    """Search for architectures; re-running the same command resumes the run.

    Without --multi-trial, the main job: a search on the training domains under a latency budget on a
    device (prior-sh by default: archs trained by successive halving in the order of NB201's CIFAR-10
    table; or a one-shot method), the chosen arch trained from scratch and evaluated on the held-out
    domain, baselines trained the same way (ResNet-like cell 11472, the best CIFAR-10 cell of NB201 and
    the best within the budget, random feasible cells, plain DARTS without budget). Writes RUN_DIR/NAME/: result.json, report.html, model.pt,
    model.onnx (verified against PyTorch), figures/, and the stages' run directories.

    With --multi-trial: writes RUN_DIR/NAME/: config.json, study.db (the Optuna study;
    optuna-dashboard reads it) and result.json (the best arch or the Pareto front, objectives, test
    accuracy, costs on every device, seed, versions). Several copies of the command on one --storage
    share the budget.
    """
    given = {p for p in ctx.params if ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE}
    from archscout.cli._oneshot import check_where

    check_where(name, run_dir)  # the run kernel's rule for both paths, before any work
    if not multi_trial:
        wrong = [p for p in _MULTI_OPTIONS if p in given]
        if wrong:
            raise ArchscoutError(f"{_flag(wrong[0])} is an option of the multi-trial search: add --multi-trial, or "
                                 "leave it out for the main job")
        _main_job(space=space, name=name, run_dir=run_dir, suite=suite, split=split, data_root=data_root,
                 data_seed=data_seed, per_domain=per_domain, image_size=image_size, image_mode=image_mode, device=device,
                 max_latency=max_latency, method=method, baseline_method=baseline_method, profile=profile,
                 seeds=seeds, threads=threads, workers=workers, accelerator=accelerator, precision=precision,
                 as_json=as_json)
        return
    allowed = _TRAIN_TASK_OPTIONS if evaluator == "train" else ()
    wrong = [p for p in _MAIN_OPTIONS if p in given and p not in allowed]
    if wrong:
        raise ArchscoutError(f"{_flag(wrong[0])} is an option of the main job" + (
            " (with --multi-trial, of --evaluator train only)" if wrong[0] in _TRAIN_TASK_OPTIONS else "") +
            ": leave out --multi-trial")
    if seed < 0:
        raise ArchscoutError(f"--seed {seed} must be an integer >= 0")
    if evaluator != "train" and (signal is not None or min_epochs is not None):
        raise ArchscoutError(f"{'--signal' if signal is not None else '--min-epochs'} is an option of "
                             "--evaluator train")
    from archscout.experiment import ExperimentConfig

    workers = 1 if workers is None else workers
    options: dict[str, Any] = {}
    if evaluator == "train":
        from archscout.pipeline import training_task

        options = training_task(suite=suite, split=split, data_root=data_root, data_seed=data_seed,
                                per_domain=per_domain, image_size=image_size, image_mode=image_mode, profile=profile,
                                threads=threads,
                                **{k: v for k, v in (("accelerator", accelerator), ("precision", precision)) if v})
        if signal is not None:
            options["signal"] = signal
        if min_epochs is not None:
            options["min_epochs"] = min_epochs
        dataset = dataset or "cifar10"

    if dataset is None:
        dataset = _DATASETS.get(space, "cifar10")
    if not objectives:
        if space == "fbnet":
            raise ArchscoutError("fbnet has cost tables but no accuracy: give --objective (e.g. latency@raspi4)")
        objectives = ("valid_error",)
    config = ExperimentConfig(
        space=space, dataset=dataset, objectives=objectives, constraints=constraints, strategy=strategy,
        n_trials=trials, seed=seed, run_dir=run_dir, storage=storage, evaluator=evaluator, evaluator_options=options,
        name=name or (f"{space}-{dataset}-{strategy}-seed{seed}" if evaluator != "train" else
                      re.sub(r"[^A-Za-z0-9._-]", "_", f"{space}-train-{Path(str(options['suite'])).name}-"
                                                             f"{options['split']}-{strategy}-seed{seed}")),
        executor=executor or ("inline" if workers == 1 else "process"),
        n_workers=workers, ray_address=ray_address, gpus_per_trial=gpus_per_trial or 0.0)
    result = _run(config, progress=not as_json)
    if as_json:
        click.echo(json.dumps(result))
    else:
        _print_result(result, config)


def _flag(param: str) -> str:
    return "--" + {"objectives": "objective", "constraints": "constraint"}.get(param, param).replace("_", "-")


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
    shown = "heldout_acc" if config.evaluator == "train" else "test_acc"  # reported only, never searched on
    for col in ["trial", "arch", *metrics, shown]:
        table.add_column(col, overflow="fold")
    for r in rows:
        test = r.get("reported", {}).get(shown)
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


# -- the main job -------------------------------------------------------------------------------------
def _main_job(*, space: str, name: str | None, run_dir: str, suite: str | None, split: str | None,
              data_root: str | None, data_seed: int | None, per_domain: int | None, image_size: int | None,
              image_mode: str | None, device: str | None, max_latency: str | None, method: str | None, baseline_method: str | None,
              profile: str | None, seeds: int | None, threads: int | None, workers: int | None,
              accelerator: str | None, precision: str | None, as_json: bool) -> None:
    from archscout.pipeline import MainJobConfig, run_main_job

    kwargs: dict[str, Any] = {"space": space, "run_dir": run_dir}
    for key, value in (("name", name), ("suite", suite), ("split", split), ("data_root", data_root),
                       ("data_seed", data_seed), ("per_domain", per_domain), ("image_size", image_size),
                       ("image_mode", image_mode),
                       ("device", device), ("method", method), ("baseline_method", baseline_method),
                       ("profile", profile), ("threads", threads), ("workers", workers),
                       ("accelerator", accelerator), ("precision", precision)):
        if value is not None:
            kwargs[key] = value
    if max_latency is not None:
        kwargs["max_latency"] = _budget(max_latency)
    if seeds is not None:
        if seeds < 1:
            raise ArchscoutError(f"--seeds {seeds} must be 1 or more (training seeds 0..N-1)")
        kwargs["seeds"] = tuple(range(seeds))
    config = MainJobConfig(**kwargs)
    console = _stderr()
    job = run_main_job(config, progress=console.is_terminal, log=lambda line: console.print(line, soft_wrap=True,
                                                                                          markup=False,
                                                                                          highlight=False))
    if as_json:
        click.echo(json.dumps(main_summary(job.result, job.run_dir)))
    else:
        _print_main(job.result, job.run_dir)


def _budget(text: str) -> float | None:
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ArchscoutError(f"--max-latency {text!r} is not a number of ms (or 'none')") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ArchscoutError(f"--max-latency {text!r} must be a positive number of ms (or 'none')")
    return value


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


SUMMARY_KEYS = ("name", "arch", "arch_index", "space", "method", "profile", "device", "latency_metric", "latency_ms",
                "latency_predicted", "max_latency_ms", "meets_budget", "id_acc", "ood_acc", "id_acc_std",
                "ood_acc_std", "selection_rule", "seeds", "params", "search_seconds", "train_seconds", "degenerate")
BASELINE_KEYS = ("name", "arch", "arch_index", "latency_ms", "latency_predicted", "meets_budget", "id_acc", "ood_acc",
                 "id_acc_std", "ood_acc_std", "params", "found_by", "degenerate")


def main_summary(result: dict, run_dir) -> dict:
    """result.json without the bulky parts (curves, histories, every device's latency)."""
    out = {k: result.get(k) for k in SUMMARY_KEYS}
    out["baselines"] = [{k: b.get(k) for k in BASELINE_KEYS} for b in result.get("baselines", [])]
    out["data"] = result.get("data")
    out["onnx"] = {k: (result.get("onnx") or {}).get(k) for k in ("passed", "max_abs_diff", "tolerance", "images")}
    out["run_dir"] = str(run_dir)
    return out


def _print_main(result: dict, run_dir) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    d = result["data"]
    budget = result.get("max_latency_ms")
    table = Table(title=f"{result['name']}: {d['suite']} / {d['split']} ({', '.join(d['train_domains'])} -> "
                        f"{', '.join(d['test_domains'])})")
    for col in ("arch", "NB201 #", f"{result['device']} ms", "in-dist. %", "out-of-dist. %"):
        table.add_column(col, justify="left" if col == "arch" else "right")

    def acc(v, s):
        return "n/a" if v is None else f"{v:.2f}" + ("" if s is None else f" ± {s:.2f}")

    rows = [{**result, "name": result.get("name_of_arch", result["method"])}, *result["baselines"]]
    for r in rows:
        lat = r.get("latency_ms")
        mark = ("" if budget is None or lat is None else (" ok" if lat <= budget else " over")) + (
            " (predicted)" if r.get("latency_predicted") else "")
        table.add_row(r["name"], "-" if r.get("arch_index") is None else str(r["arch_index"]), "n/a" if lat is None else f"{lat:.2f}{mark}",
                      acc(r["id_acc"], r.get("id_acc_std")), acc(r["ood_acc"], r.get("ood_acc_std")))
    console.print(table)
    for r in rows:
        if r.get("degenerate"):
            console.print(f"warning: {r['name']} is degenerate: {r['degenerate']}", style="bold red", soft_wrap=True,
                          markup=False, highlight=False)
    console.print(f"searched cell: {result['arch']}", soft_wrap=True)
    btxt = "no budget" if budget is None else f"budget {budget:g} ms on {result['device']}"
    console.print(f"{btxt}; selection: {result['selection_rule']}; seeds {result['seeds']}; ONNX verified "
                  f"(max abs diff {result['onnx']['max_abs_diff']:.1e})", soft_wrap=True)
    console.print(f"run directory: {run_dir} (report.html, result.json, model.pt, model.onnx)", soft_wrap=True)
