"""``archscout data``: the shift suites, their splits, and OoD-Bench shift metrics of a split."""

from __future__ import annotations

import json
import warnings
from typing import Any

import click

from archscout.cli._app import cli, compute_options, image_mode_option


@cli.group()
def data() -> None:
    """Datasets with domains: the shift suites, their splits and how much each split shifts."""


def _suite_dict(s: Any) -> dict[str, Any]:
    return {"suite": s.id, "name": s.name, "description": s.description, "source": s.source,
            "classes": list(s.classes), "image_size": s.default_size, "per_domain": s.default_per_domain,
            "domains": [{"name": d.name, "family": d.family, "description": d.description} for d in s.domains.values()],
            "splits": [{"name": p.name, "train": list(p.train), "test": list(p.test), "description": p.description}
                       for p in s.splits.values()]}


@data.command("list")
@click.argument("folder", required=False)
@click.option("--data-root", default=None, help="With FOLDER a DomainBed dataset's name (PACS, ...): its folder or "
              "the folder holding it.")
@click.option("--json", "as_json", is_flag=True, help="Print the suites (or the folder) as JSON.")
def data_list(folder: str | None, data_root: str | None, as_json: bool) -> None:
    """List the shift suites: their domains (by family) and their splits (train -> test domains).

    With FOLDER (DomainBed's layout ROOT/DOMAIN/CLASS/IMAGE), show that dataset instead: its domains,
    classes, images per class, image sizes and channel modes, and its splits."""
    from archscout.exceptions import ArchscoutError

    if folder is None:
        if data_root is not None:
            raise ArchscoutError("--data-root goes with FOLDER, a DomainBed dataset's name (e.g. data list PACS "
                                 "--data-root DIR)")
        _list_suites(as_json)
        return
    from archscout.data import open_folder

    info = open_folder(folder, data_root).describe()
    if as_json:
        click.echo(json.dumps(info, indent=1))
    else:
        _print_folder(info)


def _sizes(sizes: dict[str, int]) -> str:
    top = list(sizes.items())
    text = ", ".join(f"{s} ({n})" for s, n in top[:2])
    return text + (f", {len(top) - 2} more sizes" if len(top) > 2 else "")


def _print_folder(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    n_cls = len(info["classes"])
    table = Table(title=f"{info['dataset']} ({info['root']}): {info['images']:,} images, {n_cls} classes")
    for col in ("domain", "images", "classes", "images per class", "image sizes (W x H)", "modes"):
        table.add_column(col, overflow="fold")
    for d in info["domains"]:
        have = [n for n in d["per_class"].values() if n]
        lacks = d["missing_classes"]
        table.add_row(d["name"], f"{d['images']:,}",
                      f"{len(have)} of {n_cls}" + (f"; lacks {', '.join(lacks)}" if lacks else ""),
                      f"{min(have)}" if min(have) == max(have) else f"{min(have)} to {max(have)}",
                      _sizes(d["sizes"]), ", ".join(f"{m} ({n})" for m, n in d["modes"].items()))
    console.print(table)
    console.print(f"classes: {', '.join(info['classes'])}", soft_wrap=True)
    for cls, where in info["spellings"].items():
        console.print(f"class {cls!r} is spelled " + ", ".join(f"{f!r} in {d}" for d, f in where.items()),
                      soft_wrap=True, markup=False)
    console.print(f"loaded as {info['mode']} (the mode most images have; --image-mode to change), resized to "
                  f"{info['image_size']}x{info['image_size']} unless --image-size", soft_wrap=True)
    console.print(f"splits: {', '.join(s['name'] for s in info['splits'])}", soft_wrap=True, markup=False)


def _list_suites(as_json: bool) -> None:
    from archscout.data import list_suites

    suites = [_suite_dict(s) for s in list_suites()]
    if as_json:
        click.echo(json.dumps(suites, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="archscout shift suites")
    for col in ("suite", "source", "images", "domains (by family)", "splits"):
        table.add_column(col, overflow="fold")
    for s in suites:
        families: dict[str, list[str]] = {}
        for d in s["domains"]:
            families.setdefault(d["family"], []).append(d["name"])
        table.add_row(s["suite"], s["source"], f"{len(s['classes'])} classes, {s['per_domain']:,}/domain, "
                      f"{s['image_size']}x{s['image_size']} RGB",
                      "\n".join(f"{f}: {', '.join(n)}" for f, n in families.items()),
                      f"{len(s['splits'])} (below)")
    console.print(table)
    for s in suites:
        splits = Table(title=f"{s['suite']} splits")
        for col in ("split", "train domains", "test domains", "what it tests"):
            splits.add_column(col, overflow="fold")
        for p in s["splits"]:
            splits.add_row(p["name"], ", ".join(p["train"]), ", ".join(p["test"]), p["description"])
        console.print(splits)


@data.command("shift")
@click.option("--suite", required=True, help="A shift suite (archscout data list), e.g. fmnist-shift, or a folder "
              "in DomainBed's layout.")
@click.option("--split", required=True, help="One of the suite's splits, e.g. correlation, rotation, iid.")
@click.option("--trials", type=int, default=5, show_default=True, help="Seeds to average over (mean ± std).")
@click.option("--seed", type=int, default=0, show_default=True, help="First trial's seed (then seed+1, ...).")
@click.option("--legacy", is_flag=True, help="Report the paper's formulas (|p - q|) instead of OoD-Bench+'s.")
@click.option("--no-calibrate", is_flag=True, help="Use the fixed thresholds eps_div 1e-12, eps_cor 5e-4 instead "
              "of calibrating them on an iid version of the data.")
@click.option("--dim-z", type=int, default=8, show_default=True, help="Feature dimension of the classifier (KDE).")
@click.option("--epochs", type=int, default=10, show_default=True,
              help="Classifier epochs: the first half cosine, the second half SWA.")
@click.option("--samples", type=int, default=10_000, show_default=True, help="Importance samples M of the KDE.")
@click.option("--per-domain", type=int, default=None, help="Images per domain (default: the suite's).")
@click.option("--image-size", type=click.IntRange(min=4), default=None, help="Image size [the suite's; a folder: 16].")
@image_mode_option
@click.option("--data-root", default=None, help="Folder of the suite's source (Fashion-MNIST's idx files) or of a "
              "named DomainBed dataset (--suite PACS).")
@compute_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (no progress).")
def data_shift(suite: str, split: str, trials: int, seed: int, legacy: bool, no_calibrate: bool, dim_z: int,
               epochs: int, samples: int, per_domain: int | None, image_size: int | None, image_mode: str | None,
               data_root: str | None,
               accelerator: str | None, precision: str | None, as_json: bool) -> None:
    """Diversity and correlation shift (OoD-Bench) between a split's training and test domains.

    An environment classifier learns to tell the two sides apart; Gaussian KDEs of its features give
    diversity (support one side lacks) and correlation (label-feature relations that change). Both
    lie in [0, 1]; calibration puts an iid version of the data at 0.005-0.01.
    """
    from archscout.cli._oneshot import run_only
    from archscout.data import load_split
    from archscout.data._shift_metrics import ShiftMetricsConfig, ShiftMetricWarning, measure_shift
    from archscout.exceptions import ArchscoutError

    if epochs < 2:
        raise ArchscoutError(f"--epochs {epochs} must be at least 2 (cosine, then SWA)")
    config = ShiftMetricsConfig(trials=trials, seed=seed, formula="legacy" if legacy else "current",
                                calibrate=not no_calibrate, dim_z=dim_z, epochs=epochs, swa_start=epochs // 2,
                                samples=samples, **run_only(accelerator, precision))
    if per_domain is not None and per_domain < 2:
        raise ArchscoutError(f"--per-domain {per_domain} must be at least 2")
    domains = load_split(suite, split, per_domain=per_domain, size=image_size, root=data_root, mode=image_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ShiftMetricWarning)
        if as_json:
            result = measure_shift(domains, config=config)
        else:
            from rich.console import Console

            with Console(stderr=True).status(f"{domains.name} / {split}") as status:
                result = measure_shift(domains, config=config,
                                       progress=lambda m: status.update(f"{domains.name} / {split}: {m}"))
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ShiftMetricWarning)):
        click.echo(f"warning: {message}", err=True)
    out = result.to_dict()
    if as_json:
        click.echo(json.dumps(out))
        return
    _print_result(out)


def _fmt(x: float | None) -> str:
    """A shift figure; None where no class was left to estimate it on."""
    return "n/a" if x is None else f"{x:.4f}"


def _print_result(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{out['suite']} / {out['split']}: OoD-Bench shift ({out['formula']} formulas, "
                        f"{out['trials']} trials)")
    for col in ("shift", "mean", "std", "per trial"):
        table.add_column(col)
    for name in ("diversity", "correlation"):
        v = out[name]
        table.add_row(name, _fmt(v["mean"]), _fmt(v["std"]), ", ".join(map(_fmt, v["values"])))
    console = Console()
    console.print(table)
    t, cal = out["thresholds"], out["calibration"]
    line = f"thresholds: eps_div {t['eps_div']:.3g}, eps_cor {t['eps_cor']:.3g}"
    if cal is None:
        line += " (fixed, not calibrated)"
    else:
        line += (f" (calibrated{'' if cal['converged'] else ', NOT converged'}: iid diversity "
                 f"{_fmt(cal['iid_diversity'])}, correlation {_fmt(cal['iid_correlation'])}, band {cal['band']})")
    console.print(line, soft_wrap=True)
    acc = ", ".join(f"{p['env_accuracy']:.3f}" for p in out["per_trial"])
    console.print(f"backbone: {out['backbone']}; held-out p-vs-q accuracy per trial: {acc}; {out['seconds']:.0f} s",
                  soft_wrap=True)
    if out.get("caveat"):
        console.print(f"caveat: {out['caveat']}", soft_wrap=True, markup=False)
