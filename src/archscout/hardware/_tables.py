"""Packaged data tables: located inside the package, sha256-checked on first load against checksums
in the code (``_checksums.py``, never a file beside the tables), then cached."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from archscout.exceptions import DataIntegrityError
from archscout.hardware._checksums import SHA256

_REINSTALL = "reinstall archscout (pip install --force-reinstall archscout)"


def data_dir() -> Path:
    """The packaged data folder; ``ARCHSCOUT_DATA_DIR`` overrides it (for tests and mirrors)."""
    return Path(os.environ.get("ARCHSCOUT_DATA_DIR") or Path(__file__).resolve().parents[1] / "_data")


def _verified_bytes(name: str) -> bytes:
    folder = data_dir()
    expected = SHA256.get(name)
    if expected is None:
        raise DataIntegrityError(f"packaged table {name!r} is unknown; accepted: {', '.join(sorted(SHA256))}")
    try:
        raw = (folder / name).read_bytes()
    except OSError:
        raise DataIntegrityError(f"packaged table {folder / name} is missing; {_REINSTALL}") from None
    if hashlib.sha256(raw).hexdigest() != expected:
        raise DataIntegrityError(f"packaged table {folder / name} is corrupted (sha256 mismatch); {_REINSTALL}")
    return raw


@lru_cache(maxsize=None)
def load_arrays(name: str) -> dict[str, np.ndarray]:
    """All arrays of a packaged .npz file, read-only."""
    import io

    with np.load(io.BytesIO(_verified_bytes(name))) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


@lru_cache(maxsize=None)
def load_json(name: str) -> Any:
    """A packaged gzip-compressed JSON document."""
    return json.loads(gzip.decompress(_verified_bytes(name)))


def clear_cache() -> None:
    """Forget loaded tables (after changing ``ARCHSCOUT_DATA_DIR``)."""
    for fn in (load_arrays, load_json):
        fn.cache_clear()
