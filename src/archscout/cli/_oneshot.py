"""``archscout oneshot``: weight-sharing search (DARTS, GDAS, SPOS, ...) on a shift suite's training
domains, with an optional latency target on a named device; writes a resumable run directory."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import click

from archscout.cli._app import FiniteFloat, cli, compute_options, image_mode_option

NEAR_UNIFORM = 0.99  # a final mean edge entropy above this share of the uniform one is flagged


def check_where(name: str | None, run_dir: str) -> None:
    """``--name`` (when given) and ``--run-dir`` checked before any data are loaded (the run kernel's rule)."""
    from archscout._rundir import check_run_dir, check_run_name

    if name is not None:
        check_run_name(name)
    check_run_dir(run_dir)


def run_only(accelerator: str | None, precision: str | None) -> dict[str, str]:
    """``--accelerator`` / ``--precision`` as config fields (those not given keep the config's defaults);
    an absent accelerator is a one-line error here, before any data are loaded."""
    from archscout._accelerator import resolve

    resolve(accelerator or "auto")
    return {k: v for k, v in (("accelerator", accelerator), ("precision", precision)) if v is not None}


def nb201_lookup(index: int) -> dict[str, dict[str, float | None]]:
    """NB201's 200-epoch test accuracy of an arch on its three datasets and its latency on every device
    with a CIFAR-10 table (lookups for the report, never a search signal)."""
    from archscout.hardware import get_cost_model

    bench = get_cost_model("nb201", "cifar10")
    latency = bench.query(index, [m for m in bench.metrics if "_latency" in m and not m.endswith("_predicted")])
    return {"nb201_test_acc": {ds: get_cost_model("nb201", ds).query(index, ["test_acc"])["test_acc"]
                               for ds in ("cifar10", "cifar100", "ImageNet16-120")},
            "latency_ms": {m: None if math.isnan(v) else v for m, v in latency.items()}}


@cli.command("oneshot")
@click.option("--method", default="darts", show_default=True, help="One-shot method (see --list).")
@click.option("--space", default="nb201", show_default=True, help="Search space of the supernet.")
@click.option("--suite", default="fmnist-shift", show_default=True,
              help="Shift suite, a DomainBed-style folder, or a named DomainBed dataset with --data-root.")
@click.option("--split", default="style", show_default=True, help="Split of the suite; only its training "
              "domains are searched on.")
@click.option("--device", default=None, help="Device of the cost term (raspi4, pixel3, a measured device, ...).")
@click.option("--max-latency", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Latency target in ms on --device: a penalty on the expected latency and a hard constraint at "
                   "derivation.")
@click.option("--cost-weight", type=FiniteFloat(min=0), default=1.0, show_default=True,
              help="Weight of the latency penalty.")
@click.option("--profile", default="cpu", show_default=True, help="cpu (minutes on 2 cores) or paper (published "
              "sizes and schedules).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the profile's epochs.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Search seed.")
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the generated domains.")
@click.option("--data-root", default=None, help="Source folder of the suite (Fashion-MNIST idx files) or dataset.")
@image_mode_option
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Torch threads.")
@compute_options
@click.option("--name", default=None, help="Run name [METHOD-SPACE-SUITE-SPLIT[-DEVICE-MS]-sSEED].")
@click.option("--run-dir", default="runs", show_default=True, help="Parent of the run directory.")
@click.option("--list", "list_only", is_flag=True, help="List the methods and the spaces they support.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json's summary as one JSON object.")
def oneshot_cmd(method: str, space: str, suite: str, split: str, device: str | None, max_latency: float | None,
                cost_weight: float, profile: str, epochs: int | None, seed: int, data_seed: int,
                data_root: str | None, image_mode: str | None, threads: int, accelerator: str | None, precision: str | None,
                name: str | None, run_dir: str, list_only: bool, as_json: bool) -> None:
    """Search an architecture with a one-shot method on the training domains of a split.

    Writes RUN_DIR/NAME/: config.json, checkpoint.pt (every epoch) and result.json (derived arch,
    distribution, history, cost on every device). Re-running the same command resumes.
    """
    from archscout._io import dumps
    from archscout._rundir import run_path
    from archscout.exceptions import ArchscoutError, UnknownNameError
    from archscout.oneshot import OpCost, get_method, get_profile, list_methods

    if list_only:
        for m in list_methods():
            click.echo(f"{m}: spaces {', '.join(get_method(m).spaces)}")
        return
    check_where(name, run_dir)
    algo = get_method(method)
    if space not in algo.spaces:
        raise UnknownNameError(f"space for {method}", space, algo.spaces)
    if max_latency is not None and device is None:
        raise ArchscoutError("--max-latency needs --device (e.g. --device raspi4)")
    overrides: dict[str, Any] = {"seed": seed, "threads": threads, **run_only(accelerator, precision)}
    if epochs is not None:
        overrides["epochs"] = epochs
    config = get_profile(method, profile, **overrides)
    cost = None
    if device is not None:
        cost = OpCost.fit(space, device).with_target(max_latency, cost_weight)
    from archscout.data import load_split

    data = load_split(suite, split, seed=data_seed, size=config.image_size, root=data_root, mode=image_mode)
    budget = f"-{device}-{max_latency:g}ms" if max_latency is not None else (f"-{device}" if device else "")
    if name is None:  # one folder whatever the suite (a path: its last part) and the device are called
        suite_name = Path(suite.rstrip("/\\")).name or suite
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{method}-{space}-{suite_name}-{data.split.name}{budget}-s{seed}")
    rd = run_path(run_dir, name)
    result = algo.search(space, data, config, cost=cost, run_dir=rd, progress=not as_json)
    out: dict[str, Any] = {"method": method, "space": space, "arch": result.arch_str, "arch_index": result.arch_index,
                           "suite": data.name, "split": data.split.name, "profile": profile, "seed": seed,
                           "search_seconds": result.seconds, "run_dir": str(rd),
                           "compute": result.compute}
    entropy = result.history[-1].get("entropy") if result.history else None
    if entropy is not None:  # how far the distribution moved from uniform, so that a user can judge the result
        out["entropy"] = {"final": entropy, "uniform": math.log(result.distribution.shape[-1])}
    if result.arch_index is not None:
        out.update(nb201_lookup(result.arch_index))
    if result.cost is not None:
        out["cost"] = {k: result.cost[k] for k in ("device", "metric", "target", "value", "meets_target", "fit")}
    if as_json:
        click.echo(dumps(out))  # standard JSON: a missing number is null
        return
    _print(out)


def _print(out: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{out['method']}[/bold] on {out['space']}, {out['suite']} / {out['split']} (training domains), "
                  f"profile {out['profile']}, seed {out['seed']}: {out['search_seconds']:.0f} s", soft_wrap=True)
    index = f"  (NB201 index {out['arch_index']})" if out["arch_index"] is not None else ""
    console.print(f"derived arch: {out['arch']}{index}", soft_wrap=True)
    if "entropy" in out:
        e = out["entropy"]
        near = e["final"] > NEAR_UNIFORM * e["uniform"]
        console.print(f"architecture distribution: mean edge entropy {e['final']:.3f} nats (uniform {e['uniform']:.3f})"
                      + (": still near uniform, so the derived arch rests on small differences" if near else ""),
                      soft_wrap=True)
    if "nb201_test_acc" in out:
        accs = ", ".join(f"{k} {v:.2f} %" for k, v in out["nb201_test_acc"].items())
        console.print(f"NB201 200-epoch test accuracy (table lookup): {accs}", soft_wrap=True)
    if "cost" in out:
        c = out["cost"]
        target = f" (target {c['target']:g}: {'met' if c['meets_target'] else 'NOT met'})" if c["target"] else ""
        value = "n/a" if c["value"] is None else f"{c['value']:.3f}"
        console.print(f"{c['metric']}: {value}{target}; additive cost table fit: Spearman "
                      f"{c['fit']['spearman']:.3f}, within 10 % {c['fit']['within_10pct']:.1%}", soft_wrap=True)
    console.print(f"wrote {out['run_dir']}/result.json", soft_wrap=True)
