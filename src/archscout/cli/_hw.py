"""``archscout hw``: the device registry and hardware-cost queries."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import click

from archscout.cli._app import cli
from archscout.exceptions import UnknownNameError

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
        table.add_row(d.name, d.title, d.kind, metrics, cover, d.source.split(" (")[0])
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
