"""``archscout train``: ERM for one architecture on a shift suite's split, resumable, with a model
selection rule (training-domain validation by default; the test-domain oracle is labelled as such)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import click

from archscout.cli._app import FiniteFloat, cli, compute_options, image_mode_option
from archscout.cli._oneshot import check_where
from archscout.exceptions import ArchscoutError


def _net_settings(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; integers, floats and true/false are converted."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ArchscoutError(f"--net {item!r} is not KEY=VALUE (e.g. --net C=16 --net N=1)")
        v: Any = value.strip()
        for conv in (int, float):
            try:
                v = conv(v)
                break
            except ValueError:
                continue
        if v in ("true", "false"):
            v = v == "true"
        out[key.strip()] = v
    return out


def _default_name(space: str, arch_str: str, index: int | None, suite: str, split: str, seed: int) -> str:
    """SPACE-ARCH-SUITE-SPLIT-sSEED, one folder: a suite given as a path contributes its last part."""
    tag = str(index) if index is not None else hashlib.sha1(arch_str.encode()).hexdigest()[:10]
    name = Path(suite.rstrip("/\\")).name or suite
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{space}-{tag}-{name}-{split}-s{seed}")


@cli.command("train")
@click.option("--space", default="nb201", show_default=True, help="Search space of the architecture: nb201, "
              "darts, fbnet.")
@click.option("--arch", required=True, help="The architecture: an NB201 string or index, a DARTS genotype, "
              "FBNet op names.")
@click.option("--suite", default="fmnist-shift", show_default=True, help="Shift suite (fmnist-shift, digits-shift), a folder in DomainBed's layout "
              "ROOT/DOMAIN/CLASS/IMAGE, or PACS/VLCS/OfficeHome/TerraIncognita/NICO with --data-root.")
@click.option("--split", default="correlation", show_default=True, help="Split of the suite: iid, correlation, "
              "rotation, style, rotation-lodo-rot30, ...")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Training seed (weights, holdout split, batch order, augmentation).")
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the generated domains.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs [TrainConfig: 10].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size [128].")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None, help="Initial learning rate [0.1].")
@click.option("--net", "net", multiple=True, help="Network setting KEY=VALUE (repeatable), e.g. --net C=16 --net N=1.")
@click.option("--per-domain", type=click.IntRange(min=2), default=None, help="Images per domain [suite default].")
@click.option("--data-root", default=None, help="Folder of the suite's source (Fashion-MNIST's idx files) or of a "
              "named DomainBed dataset (--suite PACS).")
@click.option("--image-size", type=click.IntRange(min=4), default=None, help="Image size in pixels [16].")
@image_mode_option
@click.option("--selection", default="training-domain", show_default=True,
              help="Model selection rule: training-domain, leave-one-domain-out (extra runs), or oracle "
                   "(test-domain: an upper bound, labelled as such).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Torch threads. One holds up on busy cores; 2 was 1.7x faster on 2 idle cores but up to 13x "
                   "slower on busy ones.")
@compute_options
@click.option("--name", default=None, help="Run name [SPACE-ARCH-SUITE-SPLIT-sSEED].")
@click.option("--run-dir", default="runs", show_default=True, help="Parent of the run directory.")
@click.option("--json", "as_json", is_flag=True, help="Print result figures as one JSON object (no progress bar).")
def train_cmd(space: str, arch: str, suite: str, split: str, seed: int, data_seed: int, epochs: int | None,
              batch_size: int | None, lr: float | None, net: tuple[str, ...], per_domain: int | None,
              image_size: int | None, image_mode: str | None, data_root: str | None, selection: str, threads: int,
              accelerator: str | None, precision: str | None, name: str | None, run_dir: str, as_json: bool) -> None:
    """Train one architecture (ERM) on the training domains of a split and report in- and
    out-of-distribution accuracy at the epoch the selection rule picks.

    Writes RUN_DIR/NAME/: config.json, checkpoint.pt (every epoch), weights/, model.pt (the selected
    epoch, loadable with archscout.train.load_model) and result.json. Re-running resumes.
    """
    from archscout._io import dumps
    from archscout._rundir import run_path
    from archscout.data import load_split
    from archscout.spaces import get_space
    from archscout.train import TrainConfig, get_rule, train
    from archscout.train._api import arch_index

    check_where(name, run_dir)  # before any data are loaded
    rule = get_rule(selection)
    sp = get_space(space)
    parsed = sp.parse(arch)
    data = load_split(suite, split, seed=data_seed, size=image_size, per_domain=per_domain, root=data_root,
                      mode=image_mode)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr),
                                   ("accelerator", accelerator), ("precision", precision)) if v is not None}
    config = TrainConfig(seed=seed, net=_net_settings(net), threads=threads, **overrides)
    index = arch_index(sp, parsed)
    if name is None:
        name = _default_name(space, sp.to_str(parsed), index, suite, data.split.name, seed)
    result = train(space, parsed, data, config, selection=rule.name, run_dir=run_path(run_dir, name),
                   progress=not as_json)
    if as_json:
        out = {k: v for k, v in result.to_dict().items() if k not in ("history", "lodo", "config")}
        out["config"] = result.config
        click.echo(dumps(out))  # standard JSON: a missing number is null
        return
    _print(result)


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{result.space} {result.arch} on {result.suite} / {result.split}, seed {result.seed}",
                  soft_wrap=True)
    table = Table()
    table.add_column("domain")
    table.add_column("role")
    table.add_column("accuracy %", justify="right")
    for d, acc in result.id_per_domain.items():
        table.add_row(d, "train (held-out 20 %)", f"{acc:.2f}")
    for d, acc in result.ood_per_domain.items():
        table.add_row(d, "test (out of distribution)", f"{acc:.2f}")
    console.print(table)
    console.print(f"in-distribution {result.id_acc:.2f} %  out-of-distribution {result.ood_acc:.2f} %  "
                  f"selection: {result.selection_rule}, epoch {result.selected_epoch}/{result.epochs}", soft_wrap=True)
    if result.degenerate:
        console.print(f"warning: the model is degenerate: {result.degenerate}", style="bold red", soft_wrap=True,
                      markup=False, highlight=False)
    console.print(f"params {result.params:,}  throughput {result.throughput:.0f} images/s  "
                  f"time {result.seconds:.1f} s", soft_wrap=True)
    console.print(f"wrote {result.model_path}, {Path(result.run_dir) / 'result.json'}", soft_wrap=True)
