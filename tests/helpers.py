"""Helpers shared by test modules (``tests`` is on pytest's ``pythonpath``)."""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def one_line(exc_type, fn, *words):
    """Call ``fn``, expect ``exc_type`` with a one-line message naming every one of ``words``."""
    with pytest.raises(exc_type) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


def count_complete(db: Path) -> int:
    """COMPLETE trials in an SQLite study file, read-only (0 before the schema exists)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch at one thread for the duration: tiny nets run as fast, and a busy machine's barrier waits
    cannot slow them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
