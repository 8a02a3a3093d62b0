"""``archscout space``: evolve a search space (AutoSpace-style, algorithms.md §4 reconstructed) and show one.

``archscout space evolve --base fbnet-small --suite fmnist-shift --split style --budget-madds 600000``
evolves per-layer cells on the CPU skeleton and writes the learned space (JSON); re-running the same
command resumes. ``--base nb201`` evolves per-edge op sets on the NB201 table (no training) under a
device latency limit (``--device raspi4 --max-latency 20``) or a MAdds limit. ``archscout space show
FILE`` prints a learned space (``--draw PNG`` draws it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import click

from archscout.cli._app import FiniteFloat, cli, compute_options, image_mode_option
from archscout.cli._oneshot import check_where, run_only
from archscout._io import atomic_write_json, dumps, read_json
from archscout._rundir import run_path
from archscout.exceptions import ArchscoutError, UnknownNameError

PROFILES = {
    "cpu": {},  # algorithms.md §13.3: the EvolveConfig defaults
    "ci": {"iterations": 2, "steps_per_iter": 10, "warmup_steps": 2, "train_images": 256, "val_images": 256},
}
BASES = ("fbnet-small", "nb201")


@cli.group("space")
def space_group() -> None:
    """Learn a search space (AutoSpace-style evolution) and inspect learned spaces."""


@space_group.command("evolve")
@click.option("--base", default="fbnet-small", show_default=True,
              help="What evolves: fbnet-small (DAG cells on the 4-layer CPU skeleton, trained on a suite) or nb201 "
                   "(per-edge op sets on the NB201 table, no training).")
@click.option("--suite", default="fmnist-shift", show_default=True, help="Shift suite (fbnet-small): fmnist-shift, "
              "digits-shift.")
@click.option("--split", default="style", show_default=True, help="Split of the suite; only its training domains "
              "are used.")
@click.option("--dataset", default="cifar10", show_default=True, help="NB201 table (nb201 base).")
@click.option("--budget-madds", type=FiniteFloat(), default=None, help="MAdds budget of the whole network.")
@click.option("--device", default=None, help="Device of the latency limit: cpu (this machine, fbnet-small) or an "
              "NB201 table device (raspi4, edgegpu, pixel3, ...).")
@click.option("--max-latency", type=FiniteFloat(), default=None, help="Latency limit in ms on --device.")
@click.option("--profile", default="cpu", show_default=True, help="Sizes and schedules: cpu (§13.3) or ci (tiny).")
@click.option("--iterations", type=click.IntRange(min=1), default=None, help="Evolution iterations [profile].")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Cells (ops) per layer (edge) kept [2].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--per-domain", type=click.IntRange(min=2), default=500, show_default=True,
              help="Images per domain of the suite.")
@image_mode_option
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Torch threads.")
@compute_options
@click.option("--name", default=None, help="Name of the learned space (and of its run directory).")
@click.option("--run-dir", default="runs", show_default=True, help="Parent of the run directory.")
@click.option("--out", default=None, help="Also write the learned space to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (no progress bar).")
def evolve_cmd(base: str, suite: str, split: str, dataset: str, budget_madds: float | None, device: str | None,
               max_latency: float | None, profile: str, iterations: int | None, top_k: int | None, seed: int,
               per_domain: int, image_mode: str | None, threads: int, accelerator: str | None, precision: str | None, name: str | None,
               run_dir: str, out: str | None, as_json: bool) -> None:
    """Evolve a learned search space and write it (RUN_DIR/NAME/space.json, and --out)."""
    compute = run_only(accelerator, precision)  # checked for both bases (the nb201 base trains nothing)
    if base not in BASES:
        raise UnknownNameError("base space", base, BASES)
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, PROFILES)
    if budget_madds is not None and max_latency is not None:
        raise ArchscoutError("give --budget-madds or --device/--max-latency, not both")
    if (device is None) != (max_latency is None):
        raise ArchscoutError("--device and --max-latency go together")
    if budget_madds is not None and budget_madds <= 0 or max_latency is not None and max_latency <= 0:
        raise ArchscoutError("budgets must be positive")
    check_where(name, run_dir)  # before any work: where it goes, and where --out goes
    if out is not None:
        _check_out(out)
    if base == "nb201":
        path = run_path(run_dir, name or f"space-nb201-{dataset}-s{seed}") / "space.json"
        result = _evolve_nb201(dataset, budget_madds, device, max_latency, iterations, top_k, seed, name)
        _write(result, path, out)
        _print(result, path, as_json)
        return
    from archscout.autospace import EvolveConfig, evolve
    from archscout.data import load_split

    over: dict[str, Any] = dict(PROFILES[profile])
    if iterations is not None:
        over["iterations"] = iterations
    if top_k is not None:
        over["top_k"] = top_k
    config = EvolveConfig(**over, budget_madds=budget_madds, device=device, max_latency=max_latency, seed=seed,
                          threads=threads, **compute)
    data = load_split(suite, split, per_domain=per_domain, size=config.image_size, mode=image_mode)
    run_name = name or f"space-fbnet-small-{Path(suite.rstrip('/')).name or suite}-{split}-s{seed}"  # a folder: its last part
    rd = run_path(run_dir, re.sub(r"[^A-Za-z0-9._-]", "_", run_name))
    res = evolve(data, config, run_dir=rd, progress=not as_json, name=name)
    path = rd / "space.json"
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
    d = res.space.to_dict()
    d["seconds"] = res.seconds
    _print({"kind": "fbnet-small", "space": d, "summary": res.space.summary(), "seconds": res.seconds}, path, as_json)


def _evolve_nb201(dataset: str, budget_madds: float | None, device: str | None, max_latency: float | None,
                  iterations: int | None, top_k: int | None, seed: int, name: str | None) -> dict[str, Any]:
    from archscout.autospace._tabular import TabularConfig, evolve_nb201, save_nb201_space

    over: dict[str, Any] = {"dataset": dataset, "seed": seed}
    if budget_madds is not None:
        over.update(device="madds", max_latency=budget_madds)
    elif device is not None:
        if device == "cpu":
            raise ArchscoutError("the nb201 base uses table devices (raspi4, edgegpu, pixel3, ...), not cpu")
        over.update(device=device, max_latency=max_latency)
    else:
        over.update(device=None)
    if iterations is not None:
        over["iterations"] = iterations
    if top_k is not None:
        over["top_k"] = top_k
    import itertools

    import numpy as np

    from archscout.autospace._tabular import NB201Table

    config = TabularConfig(**over)
    table = NB201Table(config.dataset, config.device)
    res = evolve_nb201(config, table)
    gens = NB201Table.gen(np.array(list(itertools.product(*res.space.edge_ops))))
    lines = [f"learned NB201 space: {res.space.describe()} ({len(gens)} architectures; {res.queries} table queries)",
             f"mean test accuracy of its architectures {table.test[gens].mean():.2f} % (full space "
             f"{table.test.mean():.2f} %)"]
    if res.max_latency is not None:
        unit = "MAdds" if config.device == "madds" else f"ms on {table.metric}"
        ok = table.latency[gens] <= res.max_latency
        best = f"{table.test[gens][ok][np.argmax(table.valid[gens][ok])]:.2f} %" if ok.any() else "none"
        lines.append(f"limit {res.max_latency:,.6g} {unit}: {100 * ok.mean():.1f} % of its architectures fit; best "
                     f"fitting by valid accuracy: test {best}")
    return {"kind": "nb201", "space": save_nb201_space(res, None, name=name), "summary": "\n".join(lines)}


def _check_out(out: str) -> None:
    """``--out`` names a file that can be written: not a folder, no file among its parents."""
    path = Path(out)
    if path.is_dir():
        raise ArchscoutError(f"--out {out} is a folder; give a file name (e.g. {path / 'space.json'})")
    for p in path.parents:
        if p.exists():
            if not p.is_dir():
                raise ArchscoutError(f"--out {out}: {p} is a file, not a folder; give another path")
            break


def _write(result: dict[str, Any], path: Path, out: str | None) -> None:
    for p in [path] + ([Path(out)] if out else []):
        atomic_write_json(p, result["space"])


def _print(result: dict[str, Any], path: Path, as_json: bool) -> None:
    if as_json:
        click.echo(dumps({**result["space"], "file": str(path), "seconds": result.get("seconds")}))
        return
    click.echo(result["summary"])
    if result.get("seconds") is not None:
        click.echo(f"evolution time: {result['seconds']:.1f} s")
    click.echo(f"learned space written to {path}")


@space_group.command("show")
@click.argument("file")
@click.option("--draw", "draw", default=None, help="Also draw the space's cells to this image file (PNG, SVG, PDF).")
@click.option("--json", "as_json", is_flag=True, help="Print the file's content as JSON.")
def show_cmd(file: str, draw: str | None, as_json: bool) -> None:
    """Print a learned space file (fbnet-small cells or NB201 op sets)."""
    from archscout.autospace._learned import FORMAT, LearnedSpace
    from archscout.autospace._tabular import NB201_FORMAT, load_nb201_space

    if draw:
        _check_draw(draw)
    path = Path(file)
    d = read_json(path)
    fmt = d.get("format") if isinstance(d, dict) else None
    if fmt == NB201_FORMAT:
        space = load_nb201_space(path)
        if draw:
            raise ArchscoutError("--draw draws fbnet-small cell spaces; an NB201 op-set space is printed only")
        click.echo(dumps(d) if as_json else f"learned NB201 space {space.name}: {space.describe()} "
                   f"({int(__import__('numpy').prod(space.choices))} architectures)")
        return
    if fmt != FORMAT:
        raise ArchscoutError(f"{file} is not a learned space file (format {FORMAT!r} or {NB201_FORMAT!r} expected)")
    space = LearnedSpace.load(path)
    click.echo(dumps(d) if as_json else space.summary())
    if draw:
        space.draw(draw)
        if not as_json:
            click.echo(f"drawing written to {draw}")


def _check_draw(draw: str) -> None:
    """``--draw`` names an image file matplotlib can write in an existing folder."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(draw)
    if path.is_dir():
        raise ArchscoutError(f"--draw {draw} is a folder; give a file name (e.g. {path / 'space.png'})")
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ArchscoutError(f"--draw {draw}: unknown image format {path.suffix or '(no extension)'!r}; end the "
                             f"file name with one of: {', '.join('.' + f for f in formats)}")
    parent = path.parent
    if not parent.is_dir():
        raise ArchscoutError(f"--draw {draw}: folder {parent} does not exist; create it or give another path")
