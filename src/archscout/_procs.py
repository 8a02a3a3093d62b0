"""Worker processes that do not outlive their driver: a driver killed with SIGKILL cannot stop its pool,
so each worker watches its parent and exits when it is gone. Otherwise an orphan would go on training
into the run folder that the re-run driver resumes, two processes writing one run (and, holding the
descriptor of multiprocessing's resource tracker, keep that process alive too)."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int | None = None, poll_s: float = 0.5) -> None:
    """In a worker process: exit as soon as its parent is gone (polled every ``poll_s``).

    ``parent`` is the pid of the process that started the pool (pass ``os.getpid()`` from there, e.g.
    in ``initargs``): a worker still starting up when its driver was killed then exits at once, where
    asking ``os.getppid()`` at that point would name the adopting process and the worker would live on.
    """
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="archscout-parent-watch", daemon=True).start()
