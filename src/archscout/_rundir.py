"""The run kernel: what every run folder does the same way (training runs, one-shot searches, autospace,
studies, the main job).

- identity: ``config.json`` written on first use; a folder made with another config is refused;
- resume: a finished stage's JSON is read back (``read_done``), never redone;
- RNG: every random stream derived from (seed, epoch), global states saved in checkpoints;
- atomic writes of JSON (plain types, non-finite floats as null) and torch files;
- ``versions()``: the packages a result was made with.
"""

from __future__ import annotations

import io
import math
import os
import platform
import random
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from archscout._io import atomic_write, atomic_write_json, read_json
from archscout.exceptions import ArchscoutError

IDENTITY = "config.json"
RESULT = "result.json"  # a finished run's (or stage's) record
RUN_ONLY = ("threads", "accelerator", "precision")  # how a run computes, not what: never in its identity
VERSIONED = ("archscout", "torch", "numpy", "optuna", "onnx", "onnxruntime", "sqlalchemy", "matplotlib")


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
    if path.exists():
        diff = config_diff(read_json(path, "run identity"), identity)
        if diff:
            raise ArchscoutError(f"run directory {run_dir} was created with another config (differs in "
                                 f"{', '.join(diff)}); use another --name or --run-dir, or delete it")
        return
    atomic_write_json(path, identity, sort_keys=True)


def jsonable(v: Any) -> Any:
    """Plain JSON types, recursively (numpy and torch values as lists and numbers); non-finite floats
    become None."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy arrays and scalars, torch tensors
        return jsonable(v.tolist())
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as JSON (``jsonable``), written atomically: a kill leaves the old file or the new one."""
    return atomic_write_json(path, jsonable(obj))


def read_done(path: str | Path) -> Any | None:
    """A finished stage's JSON record, or None when the stage has not finished."""
    return read_json(path, "stage record") if Path(path).exists() else None


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


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` of ``obj`` with its tensors on the CPU, through ``atomic_write``: a kill leaves the
    old file or the new one."""
    import torch

    buf = io.BytesIO()
    torch.save(to_cpu(obj), buf)
    atomic_write(path, buf.getvalue())
