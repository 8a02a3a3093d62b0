"""The run kernel: what every run folder does the same way (training runs, one-shot searches, autospace,
studies, the main job).

- where: ``run_path(run_dir, name)``, one folder under ``run_dir`` (``check_run_name``: never a path that
  escapes it, for every command);
- identity: ``config.json`` written on first use; a folder made with another config is refused;
- resume: a finished stage's JSON is read back (``read_done``), never redone;
- RNG: every random stream derived from (seed, epoch), global states saved in checkpoints;
- atomic writes of JSON (standard JSON: plain types, non-finite floats as null) and torch files;
- safe reads: a checkpoint is loaded with ``weights_only`` (tensors, numbers, strings, lists, dicts: nothing
  in a file can run code), JSON as JSON; a truncated or foreign file is a one-line error naming it and the
  way out (``way_out``), never a silent fresh start that would lose finished work;
- ``versions()``: the packages a result was made with.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import platform
import random
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from archscout._io import atomic_write, atomic_write_json, jsonable, read_json
from archscout.exceptions import ArchscoutError

__all__ = ["jsonable"]  # re-exported: the run kernel's JSON form (archscout._io)

IDENTITY = "config.json"
RESULT = "result.json"  # a finished run's (or stage's) record
RUN_ONLY = ("threads", "accelerator", "precision")  # how a run computes, not what: never in its identity
VERSIONED = ("archscout", "torch", "numpy", "optuna", "onnx", "onnxruntime", "sqlalchemy", "matplotlib")
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
RUN_NAME_RULE = "1 to 255 letters, digits, '.', '_' or '-', starting with a letter or digit"


# -- where a run lives ------------------------------------------------------------------------------------------
def check_run_name(name: Any, option: str = "--name") -> str:
    """``name`` when it names one folder (``RUN_NAME_RULE``): never ``..``, a path, an absolute path or
    empty, so that a run cannot write outside its ``--run-dir``; else a one-line ``ArchscoutError``."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:77] + "...")
        raise ArchscoutError(f"{option} {shown} is not a run name: use {RUN_NAME_RULE} (it names one folder "
                             "under --run-dir)")
    return name


def check_run_dir(run_dir: str | os.PathLike, option: str = "--run-dir") -> Path:
    """``run_dir`` as a Path when it is a folder or can become one (its nearest existing ancestor is a
    folder); else a one-line ``ArchscoutError`` naming it."""
    path = Path(run_dir)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "" if p == path else f" ({p} is a file)"
                raise ArchscoutError(f"{option} {run_dir} is not a folder{where}; give a folder (created when "
                                     "missing)")
            break
    return path


def run_path(run_dir: str | os.PathLike, name: Any, option: str = "--name") -> Path:
    """The run folder ``run_dir/name``: ``name`` checked (``check_run_name``), ``run_dir`` a folder, and
    ``run_dir/name`` not a file."""
    path = check_run_dir(run_dir) / check_run_name(name, option)
    if path.exists() and not path.is_dir():
        raise ArchscoutError(f"run folder {path} is a file; delete it or use another {option}")
    return path


def way_out(path: str | os.PathLike) -> str:
    """What a user does about a corrupt file of a run folder."""
    return f"delete {path} (or the run folder) or use another --name"


def check_finite(config: Any) -> None:
    """Every float of a config dataclass's fields (and of its tuples) finite: ``inf`` or ``nan`` (``1e309``
    is ``inf``) would train on non-finite weights and report figures; a one-line ``ArchscoutError``."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for v in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                raise ArchscoutError(f"{f.name} {value!r} must be a finite number")


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def check_identity(run_dir: Path, identity: dict[str, Any]) -> None:
    """Write the run's identity on first use; refuse a run directory made with another config."""
    path = Path(run_dir) / IDENTITY
    identity = jsonable(identity)  # compared as it is stored
    if path.exists():
        diff = config_diff(read_json(path, "run identity", way_out(path)), identity)
        if diff:
            raise ArchscoutError(f"run directory {run_dir} was created with another config (differs in "
                                 f"{', '.join(diff)}); use another --name or --run-dir, or delete it")
        return
    atomic_write_json(path, identity, sort_keys=True)


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as JSON (``jsonable``), written atomically: a kill leaves the old file or the new one."""
    return atomic_write_json(path, jsonable(obj))


def read_done(path: str | Path, keys: tuple[str, ...] = ()) -> Any | None:
    """A finished stage's JSON record (a dict holding ``keys``), or None when the stage has not finished;
    a corrupt one is a one-line ``ArchscoutError`` naming it and the way out (never a silent re-run)."""
    if not Path(path).exists():
        return None
    out = read_json(path, "stage record", way_out(path))
    if not isinstance(out, dict):
        raise ArchscoutError(f"cannot read stage record {path}: not a JSON object; {way_out(path)}")
    missing = [k for k in keys if k not in out]
    if missing:
        raise ArchscoutError(f"cannot read stage record {path}: it has no {', '.join(map(repr, missing))}; "
                             f"{way_out(path)}")
    return out


def versions() -> dict[str, str]:
    """Python's and the installed packages' versions (those of ``VERSIONED`` that are installed)."""
    out = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


# -- random streams and checkpoints (torch imported on use: table-only runs never load it) ---------------------
def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_generator(seed: int, epoch: int):
    """The torch generator of one epoch's random draws (batch order, augmentation), from (seed, epoch)."""
    import torch

    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def rng_state() -> dict[str, Any]:
    """The global RNG states (Python, NumPy, torch), for a checkpoint."""
    import torch

    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "numpy": [kind, key.tolist(), pos, has_gauss, gauss],
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])


def to_cpu(obj: Any) -> Any:
    """Tensors (in dicts, lists and tuples) on the CPU: what checkpoints hold, so a run resumes on any
    accelerator."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def plain(obj: Any) -> Any:
    """``obj`` with numpy values as Python numbers and lists (dicts, lists and tuples recursively; tensors
    kept): what a checkpoint may hold to load with ``weights_only`` (non-finite floats stay as they are)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


def load_checkpoint(path: str | os.PathLike, keys: tuple[str, ...] = (), what: str = "checkpoint") -> Any:
    """A torch file of a run folder, loaded with ``weights_only=True``: tensors, numbers, strings, lists and
    dicts only, so a crafted file cannot run code. A truncated, corrupt or foreign file (or a dict without
    ``keys``) is a one-line ``ArchscoutError`` naming the file and the way out: never a fresh start."""
    import pickle

    import torch

    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        why = "it does not exist"
    except pickle.UnpicklingError:  # weights_only refused a global: never loaded, nothing in it ran
        why = "it holds objects other than tensors, numbers, strings, lists and dicts (refused unread)"
    except Exception as exc:  # noqa: BLE001  (a truncated zip, an empty file, a short read: all one user error)
        why = f"truncated or corrupt ({type(exc).__name__})"
    else:
        if not keys:
            return obj
        if not isinstance(obj, dict):
            why = f"not an archscout {what} (a {type(obj).__name__}, not a dict)"
        else:
            missing = [k for k in keys if k not in obj]
            if not missing:
                return obj
            why = f"not an archscout {what} (it has no {', '.join(map(repr, missing))})"
    raise ArchscoutError(f"cannot read {what} {path}: {why}; {way_out(path)}")


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` of ``obj`` with its tensors on the CPU, through ``atomic_write``: a kill leaves the
    old file or the new one."""
    import torch

    buf = io.BytesIO()
    torch.save(to_cpu(obj), buf)
    atomic_write(path, buf.getvalue())
