"""Files: writes that a kill cannot leave half done (a temporary file next to the target, then a rename),
and JSON reads that fail with a one-line error."""

from __future__ import annotations

import json
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


def atomic_write_json(path: str | os.PathLike, obj: Any, **dumps: Any) -> Path:
    """``atomic_write`` of ``json.dumps(obj, indent=2, **dumps)``."""
    return atomic_write(path, json.dumps(obj, **{"indent": 2, **dumps}))


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """``json.loads`` of a file; a missing or unreadable one is a one-line ``ArchscoutError`` naming ``what``."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArchscoutError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ArchscoutError(f"cannot read {what} {path}: {str(exc).splitlines()[0]}") from None
