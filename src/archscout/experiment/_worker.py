"""Who runs a trial: a driver's identity, whether it is still alive, and its heartbeat.

A running trial records its driver (``host:pid:start:run``). When a driver dies (kill -9, a lost
node), its running trials are taken over by the next driver on the study: on the same host the
process is checked directly (gone, a zombie, or a reused pid), elsewhere the driver's heartbeat,
a study attribute refreshed every ``HEARTBEAT_S`` seconds, tells.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

HEARTBEAT_S = 30.0
STALE_AFTER_S = 4 * HEARTBEAT_S  # a driver on another host is dead when its heartbeat is this old
HEARTBEAT_KEY = "archscout:heartbeat:"

_active_runs: set[str] = set()  # run ids of the drivers alive in this process


def _start_ticks(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot, Linux) and None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def new_worker_id() -> str:
    """A fresh id for one driver (one run_experiment call) of this process."""
    pid = os.getpid()
    run = uuid.uuid4().hex[:8]
    _active_runs.add(run)
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '-'}:{run}"


def retire(worker_id: str) -> None:
    _active_runs.discard(worker_id.rsplit(":", 1)[-1])


def is_alive(worker_id: str) -> bool | None:
    """True/False for a driver on this host; None when it runs elsewhere (ask its heartbeat)."""
    try:
        host, pid_s, ticks, run = worker_id.rsplit(":", 3)
        pid = int(pid_s)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    if pid == os.getpid():
        return run in _active_runs
    if not os.path.exists("/proc"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    now = _start_ticks(pid)
    return now is not None and (ticks == "-" or now == ticks)


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``interval`` seconds until stopped (errors ignored)."""

    def __init__(self, beat: Callable[[], None], interval: float = HEARTBEAT_S):
        self._beat, self._interval = beat, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archscout-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._beat()
            except Exception:  # noqa: BLE001  (a busy database must not kill the run; next beat retries)
                pass
            self._stop.wait(self._interval)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def heartbeat_age(attrs: dict, worker_id: str, now: float | None = None) -> float | None:
    """Seconds since the driver's last heartbeat (study system attrs), None if it never beat."""
    t = attrs.get(HEARTBEAT_KEY + worker_id)
    return None if t is None else (time.time() if now is None else now) - float(t)
