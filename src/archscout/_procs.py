"""Worker processes that do not outlive their driver: a driver killed with SIGKILL cannot stop its pool,
so each worker watches its parent and exits when it is gone. Otherwise an orphan would go on training
into the run folder that the re-run driver resumes, two processes writing one run."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(poll_s: float = 0.5) -> None:
    """In a worker process: exit as soon as the process that started it is gone (polled every ``poll_s``)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="archscout-parent-watch", daemon=True).start()
