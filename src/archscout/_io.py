"""Files: writes that a kill cannot leave half done (a temporary file next to the target, then a rename),
standard JSON (plain types, non-finite numbers as null), and JSON reads that fail with a one-line error."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from archscout.exceptions import ArchscoutError


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and ``os.replace``: the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)
    return path


def jsonable(v: Any) -> Any:
    """Plain JSON types, recursively (numpy and torch values as lists and numbers, paths as strings);
    non-finite floats (``inf``, ``nan``: a number that is missing) become None."""
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


def dumps(obj: Any, **kwargs: Any) -> str:
    """Standard JSON of ``obj`` (``jsonable``: never ``Infinity`` or ``NaN``, which other readers refuse)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)


def atomic_write_json(path: str | os.PathLike, obj: Any, **kwargs: Any) -> Path:
    """``atomic_write`` of ``dumps(obj, indent=2, **kwargs)``: standard JSON, non-finite numbers as null."""
    return atomic_write(path, dumps(obj, **{"indent": 2, **kwargs}))


def read_json(path: str | os.PathLike, what: str = "file", hint: str = "") -> Any:
    """``json.loads`` of a file; a missing or unreadable one is a one-line ``ArchscoutError`` naming ``what``
    (and ending with ``hint``, the way out, when given)."""
    tail = f"; {hint}" if hint else ""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArchscoutError(f"{what} {path} does not exist{tail}") from None
    except (OSError, ValueError) as exc:
        raise ArchscoutError(f"cannot read {what} {path}: {str(exc).splitlines()[0]}{tail}") from None
