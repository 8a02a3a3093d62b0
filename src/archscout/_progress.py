"""The one progress bar of long library work (training, search, evolution): rich, on stderr, transient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(label: str, total: int, show: bool = True, done: int = 0) -> Iterator[Callable[[], None]]:
    """Yield ``tick()``, which advances a bar of ``total`` steps that starts at ``done`` (a resumed run); a
    no-op when ``show`` is false or nothing is left."""
    if not show or total <= done:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as p:
        task = p.add_task(label, total=total, completed=done)
        yield lambda: p.advance(task)
