"""``archscout hw``: the device registry and hardware-cost queries."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from typing import Any

import click

from archscout.cli._app import FiniteFloat, cli
from archscout.exceptions import ArchscoutError, UnknownNameError

@cli.group()
def hw() -> None:
    """Hardware cost: the device registry and HW-NAS-Bench queries."""


@hw.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
def hw_devices(as_json: bool) -> None:
    """List the devices with what they are, how their numbers were obtained, units and source."""
    from archscout.hardware import get_device, list_devices

    devices = [get_device(n) for n in list_devices()]
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in devices], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="archscout devices", show_lines=False)
    for col in ("device", "what", "how", "metrics (unit)", "spaces / datasets", "source"):
        table.add_column(col, overflow="fold")
    for d in devices:
        metrics = ", ".join(f"{m.name} ({m.unit})" for m in d.metrics)
        cover = "; ".join(f"{s}: {', '.join(ds)}" for s, ds in d.coverage.items())
        source = d.source if d.kind == "imported" else d.source.split(" (")[0]  # imported: file and sha256
        table.add_row(d.name, d.title, d.kind, metrics, cover, source)
    Console().print(table)


def _json_value(name: str, v: float) -> Any:
    if math.isnan(v):
        return None
    return int(v) if name == "params" else v


@hw.command("query")
@click.option("--space", required=True, help="Search space: nb201 or fbnet.")
@click.option("--dataset", required=True, help="nb201: cifar10, cifar100, ImageNet16-120; fbnet: cifar100, ImageNet.")
@click.option("--arch", required=True,
              help="nb201: an index (0..15624) or an arch string; fbnet: 22 op names or indices.")
@click.option("--device", "devices", multiple=True, help="Only this device's metrics (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def hw_query(space: str, dataset: str, arch: str, devices: tuple[str, ...], as_json: bool) -> None:
    """All metrics of one architecture: hardware cost, params, FLOPs (and NB201 accuracies)."""
    from archscout.hardware import get_cost_model, get_device, list_devices, metric_info

    model = get_cost_model(space, dataset)
    parsed = model.space.parse(arch)
    metrics = model.metrics
    if devices:
        wanted = {m.name for d in devices for m in get_device(d).metrics}
        for d in devices:
            if not {m.name for m in get_device(d).metrics} & set(metrics):
                covering = [n for n in list_devices() if any(m.name in metrics for m in get_device(n).metrics)]
                raise UnknownNameError(f"device for {space}/{dataset}", d, covering)
        keep = {"params", "flops", "train_acc", "valid_acc", "test_acc"}
        metrics = tuple(m for m in metrics if m in wanted or m in keep)
    values = model.query(parsed, metrics)
    missing = {m: model.missing_reason(parsed, m) for m, v in values.items() if math.isnan(v)}
    out: dict[str, Any] = {"space": space, "dataset": dataset, "arch": model.space.to_str(parsed)}
    if space == "nb201":
        out["index"] = model.space.index(parsed)
    out["metrics"] = {m: _json_value(m, v) for m, v in values.items()}
    if missing:
        out["missing"] = missing
    if space == "nb201":
        out["accuracy_setting"] = model.accuracy_setting
    if as_json:
        click.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    title = f"{space} / {dataset}: {out['arch']}" + (f"  (index {out['index']})" if "index" in out else "")
    table = Table(title=title)
    for col in ("metric", "value", "unit", "source"):
        table.add_column(col, overflow="fold")
    collapsed = {r for r, n in Counter(missing.values()).items() if n > 3}
    for m, v in values.items():
        if missing.get(m) in collapsed:
            continue
        info = metric_info(m)
        shown = f"n/a: {missing[m]}" if m in missing else f"{int(v):,}" if info.unit == "count" else f"{v:.6g}"
        source = get_device(info.device).title if info.device else info.description
        table.add_row(m, shown, info.unit, source)
    console = Console()
    console.print(table)
    for reason in collapsed:
        names = [m for m, r in missing.items() if r == reason]
        console.print(f"not shown ({len(names)} metrics: {names[0]}, ...): {reason}", soft_wrap=True)
    if space == "nb201":
        console.print(f"accuracy: {model.accuracy_setting}", soft_wrap=True)


def _latency_column(bench, device: str) -> str:
    """The latency column a device name (``raspi4``) or a column name (``1080ti_latency_bs1``) means."""
    columns = [m for m in bench.metrics if "_latency" in m]
    # a GPU measured at several batch sizes: its name alone means batch size 1 (as the one-shot cost term)
    for name in (f"{device}_latency", f"{device}_latency_bs1", device):
        if name in columns:
            return name
    raise UnknownNameError("device with an NB201 latency table (or latency column)", device,
                           dict.fromkeys([c.split("_latency")[0] for c in columns] + columns))


@hw.command("predict")
@click.option("--space", default="nb201", show_default=True, help="Search space (nb201: every arch has a table).")
@click.option("--dataset", default="cifar10", show_default=True, help="cifar10, cifar100 or ImageNet16-120.")
@click.option("--device", required=True, help="Device (raspi4, pixel3, edgegpu, ...) or a latency column.")
@click.option("--train", "n_train", type=click.IntRange(min=1), default=100, show_default=True,
              help="Archs measured for training (random); the rest with data are the test set.")
@click.option("--few-shot", is_flag=True,
              help="Use the other devices' tables as prior: adds the fewshot predictor, and stacked blends it in.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the training sample.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def hw_predict(space: str, dataset: str, device: str, n_train: int, few_shot: bool, seed: int,
               as_json: bool) -> None:
    """Fit latency predictors on N archs of a device's table and score them on the held-out archs
    (Spearman, Kendall, share within 5 % and 10 % relative error), the FLOPs baseline included."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from archscout.hardware import evaluate_predictor, get_cost_model, get_predictor
    from archscout.hardware._devices import device_of
    from archscout.spaces import get_space

    if space != "nb201":
        raise ArchscoutError(f"hw predict needs a space whose every arch has a table: 'nb201', not {space!r}")
    bench = get_cost_model(space, dataset)
    column = _latency_column(bench, device)
    y = bench.column(column)
    ok = np.flatnonzero(np.isfinite(y))
    if n_train >= len(ok):
        raise ArchscoutError(f"--train {n_train}: {column} has {len(ok)} archs with data; choose fewer")
    ops = get_space(space).ops_table.astype(np.int64)
    rng = np.random.default_rng(seed)
    tr = rng.choice(ok, n_train, replace=False)
    te = np.setdiff1d(ok, tr)
    flops = bench.column("flops")
    makers: dict[str, dict[str, Any]] = {"linear": {}, "additive": {}, "gbm": {}, "structure": {},
                                         "flops": {"flops": flops}}
    out = {"device": column, "space": space, "dataset": dataset, "train": n_train, "test": len(te), "seed": seed,
           "predictors": {}}
    if few_shot:  # the prior: other devices' full tables, never this device's own (fewshot_reference)
        from archscout.hardware._predictors import fewshot_reference

        names, reference = fewshot_reference(bench, column)
        makers["fewshot"] = makers["stacked"] = {"reference": reference, "flops": flops}
        out["reference"] = names
    else:
        makers["stacked"] = {}
    skipped: dict[str, str] = {}
    for name, kwargs in makers.items():
        try:  # with few archs (few-shot) the models that need more are skipped, and say so
            model = get_predictor(name, **kwargs).fit(ops[tr], y[tr])
        except ArchscoutError as exc:
            skipped[name] = str(exc)
            continue
        out["predictors"][name] = {k: float(v) for k, v in evaluate_predictor(y[te], model.predict(ops[te])).items()}
    if not out["predictors"]:
        raise ArchscoutError(next(iter(skipped.values())))
    if skipped:
        out["skipped"] = skipped
    if as_json:
        click.echo(json.dumps(out))
        return
    table = Table(title=f"latency predictors: {column} ({dataset}), trained on {n_train}, tested on {len(te)}")
    for col in ("predictor", "spearman", "kendall", "within 5 %", "within 10 %"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for name, r in out["predictors"].items():
        table.add_row(name, f"{r['spearman']:.3f}", f"{r['kendall']:.3f}", f"{r['within_5pct']:.1%}",
                      f"{r['within_10pct']:.1%}")
    Console().print(table)
    if few_shot:
        click.echo(f"few-shot prior: {len(out['reference'])} latency columns of other devices "
                   f"({device_of(column)} and any copy of it left out)")
    for name, why in skipped.items():
        click.echo(f"skipped {name}: {why}")


def _sample_archs(space: str, n: int, seed: int) -> list[str]:
    """``n`` distinct archs in a seeded order, so that a larger ``n`` extends a smaller one."""
    import numpy as np

    from archscout.spaces import get_space

    sp = get_space(space)
    rng = np.random.default_rng(seed)
    if sp.size is not None and sp.size <= 10**6:  # enumerable (NB201): a permutation of the indices
        return [sp.to_str(sp.from_index(int(i))) for i in rng.permutation(sp.size)[:n]]
    return list(dict.fromkeys(sp.to_str(sp.sample(rng)) for _ in range(n)))


@hw.command("measure")
@click.option("--space", default="nb201", show_default=True, help="nb201 or fbnet.")
@click.option("--dataset", default="cifar10", show_default=True,
              help="Sets input size and head: nb201: cifar10, cifar100, ImageNet16-120; fbnet: cifar100, ImageNet.")
@click.option("--archs", "n_archs", type=click.IntRange(min=1), default=200, show_default=True,
              help="How many random archs (seeded; a larger number extends a smaller one).")
@click.option("--backend", type=click.Choice(["onnxruntime", "torch"]), default="onnxruntime", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Intra-op threads.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--repeats", type=click.IntRange(min=2), default=40, show_default=True,
              help="Repeats per arch, in shuffled rounds over a batch of archs; the latency is their median.")
@click.option("--runs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Back-to-back runs per repeat; the fastest is the repeat's value.")
@click.option("--batch", "arch_batch", type=click.IntRange(min=1), default=100, show_default=True,
              help="Archs measured together (interleaved) and saved together.")
@click.option("--warmup", type=FiniteFloat(min=0, max=3600), default=0.1, show_default=True,
              help="Warm-up seconds per arch.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the arch sample.")
@click.option("--lut", is_flag=True,
              help="FBNet: measure each distinct block of the lookup table once instead of whole archs; every "
                   "FBNet arch then has a latency on this device, the sum over its blocks (as in HW-NAS-Bench).")
@click.option("--pin-cpu", type=click.IntRange(min=0), default=None, help="Pin the measuring process to this CPU.")
@click.option("--realtime", is_flag=True, help="Real-time (FIFO) priority while measuring (root or CAP_SYS_NICE).")
@click.option("--name", default=None, help="Device name for this set-up (default local-<fingerprint>).")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Measurement store (default $ARCHSCOUT_HOME/measurements, i.e. ~/.archscout/measurements).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (no progress bar).")
def hw_measure(space: str, dataset: str, n_archs: int, backend: str, threads: int, batch_size: int, repeats: int,
               runs: int, arch_batch: int, warmup: float, seed: int, lut: bool, pin_cpu: int | None,
               realtime: bool, name: str | None, root: str | None, as_json: bool) -> None:
    """Measure the latency of random archs on this machine; the set-up becomes a device of the registry.

    Interrupt at any time (Ctrl-C): re-running the same command measures only what is missing.
    """
    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from archscout.hardware import measure_archs
    from archscout.hardware._measured import SETTINGS, drift_corrected, measure_fbnet_lut, measurements_root

    if (space, dataset) not in SETTINGS:
        raise UnknownNameError("space/dataset to measure", f"{space}/{dataset}", [f"{s}/{d}" for s, d in SETTINGS])
    if lut and space != "fbnet":
        raise ArchscoutError(f"--lut measures FBNet's lookup table; use --space fbnet, not {space!r}")
    if pin_cpu is not None and hasattr(os, "sched_getaffinity") and pin_cpu not in os.sched_getaffinity(0):
        raise ArchscoutError(f"--pin-cpu {pin_cpu} is not a CPU this process may use; choose from: "
                             f"{', '.join(map(str, sorted(os.sched_getaffinity(0))))}")
    keys = [] if lut else _sample_archs(space, n_archs, seed)
    console = Console(stderr=True)
    kw = dict(dataset=dataset, backend=backend, threads=threads, batch_size=batch_size, name=name, root=root,
              warmup_s=warmup, repeats=repeats, runs=runs, batch=arch_batch, pin_cpu=pin_cpu, realtime=realtime)
    # the bar starts once the set-up is checked, so that its errors print on a clean line
    bar = Progress(TextColumn("measure"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=console, transient=True, disable=as_json)
    task = bar.add_task("measure", total=None)

    def tick(i: int, n: int, key: str) -> None:
        if i == 0 and not as_json:
            console.print(f"measuring {n} {'lookup-table blocks' if lut else 'archs'} in batches of {arch_batch}; "
                          "each batch is saved when it finishes")
            bar.start()
        bar.update(task, completed=i, total=n)

    try:
        try:
            df = measure_fbnet_lut(progress=tick, **kw) if lut else measure_archs(space, keys, progress=tick, **kw)
        finally:
            if bar.live.is_started:
                bar.stop()
    except KeyboardInterrupt:
        click.echo(f"interrupted: finished measurements are saved under {measurements_root(root)}; "
                   "re-run the same command to measure the rest", err=True)
        raise click.exceptions.Exit(130) from None
    device, fp = df.attrs["device"], df.attrs["fingerprint"]
    sel = df if lut else df[df["key"].isin(set(keys))]
    latency = drift_corrected(sel)
    out = {"device": device, "fingerprint": fp, "space": space, "dataset": dataset,
           "blocks" if lut else "archs": len(sel),
           "table_rows": len(df), "table": df.attrs["table"],
           "latency_ms": {q: float(np.quantile(latency, p)) for q, p in (("min", 0.0), ("median", 0.5), ("max", 1.0))},
           "cv": {"median": float(sel["cv"].median()), "p90": float(sel["cv"].quantile(0.9))},
           "cv_runs": {"median": float(sel["cv_runs"].median()), "p90": float(sel["cv_runs"].quantile(0.9))},
           "reference_ms": {"min": float(sel["ref_ms"].min()), "max": float(sel["ref_ms"].max())}}
    if as_json:
        click.echo(json.dumps(out))
        return
    out_console = Console()
    out_console.print(f"[bold]{device}[/bold]: {fp['cpu']}, {backend} {fp['backend_version']}, {threads} thread(s), "
                      f"batch {batch_size}", soft_wrap=True)
    lat, cv, cvr, ref = out["latency_ms"], out["cv"], out["cv_runs"], out["reference_ms"]
    what = "lookup-table blocks" if lut else "archs"
    out_console.print(f"{len(sel)} {what} ({space}/{dataset}); latency median {lat['median']:.3f} ms (range "
                      f"{lat['min']:.3f}-{lat['max']:.3f}); coefficient of variation, median (90th percentile): "
                      f"back-to-back runs {cvr['median']:.1%} ({cvr['p90']:.1%}), all runs {cv['median']:.1%} "
                      f"({cv['p90']:.1%}); reference arch {ref['min']:.3f}-{ref['max']:.3f} ms over batches",
                      soft_wrap=True)
    out_console.print(f"table: {out['table']}", soft_wrap=True)
    if space == "nb201":
        hint = f"archscout hw predict --space nb201 --dataset {dataset} --device {device}"
    elif lut:
        hint = f"archscout hw query --space fbnet --dataset {dataset} --arch ARCH --device {device}"
    else:
        hint = f"archscout hw measure --space fbnet --dataset {dataset} --lut (a latency for every FBNet arch)"
    out_console.print(f"use it: {hint}", soft_wrap=True)


@hw.command("import")
@click.argument("name")
@click.option("--space", required=True, help="Search space of the table: nb201.")
@click.option("--table", "table", required=True, type=click.Path(dir_okay=False),
              help="CSV with columns arch (an NB201 index or arch string) and latency_ms (ms); more numeric columns "
                   "become metrics <name>_<column> (a unit suffix such as _mJ is the unit).")
@click.option("--dataset", default="cifar10", show_default=True,
              help="The setting the latencies were measured in: cifar10, cifar100 or ImageNet16-120.")
@click.option("--replace", is_flag=True, help="Replace the device's table for this dataset with another file.")
@click.option("--title", default=None, help="What the device is, for hw devices (default 'imported: NAME').")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def hw_import(name: str, space: str, table: str, dataset: str, replace: bool, title: str | None,
              as_json: bool) -> None:
    """Add a device from a latency table, e.g. measured elsewhere: hw devices, hw query, hw predict, oneshot and
    search --device then accept NAME. The table is copied into the store with its path and sha256.

    Importing the same file again changes nothing; another file for the same dataset needs --replace.
    """
    from archscout.hardware._measured import import_table

    out = import_table(name, table, space=space, dataset=dataset, replace=replace, title=title)
    if as_json:
        click.echo(json.dumps(out))
        return
    table_of = f"{out['archs']:,} archs ({space}/{dataset}) from {out['source']} (sha256 {out['sha256'][:12]})"
    click.echo({"imported": f"imported {name}: {table_of}", "replaced": f"replaced {name}'s table: {table_of}",
                "unchanged": f"{name} already has this table, nothing changed: {table_of}"}[out["status"]])
    if out["predicted"]:
        click.echo(f"the other {15625 - out['archs']:,} archs: {name}_latency_predicted (fitted once, cached)")
    click.echo(f"use it: archscout hw query --space {space} --dataset {dataset} --arch 0 --device {name}")
