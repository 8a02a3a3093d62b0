"""Who runs a trial: a driver's identity, whether it is still alive, and its heartbeat.

A running trial records its driver (``host:pid:start:run``). When a driver dies (kill -9, a lost
node), its running trials are taken over by the next driver on the study: on the same host the
process is checked directly (gone, a zombie, or a reused pid: at once), elsewhere the driver's
heartbeat, a study attribute refreshed every ``HEARTBEAT_S`` seconds, tells.

Optuna's own heartbeat (``RDBStorage(heartbeat_interval=...)`` + ``fail_stale_trials``) does not fit
here: it is RDB-only (no journal files), meant for ``study.optimize`` (``study.ask`` warns), knows
only trials that already recorded a beat (a driver killed inside ``study.ask`` leaves a trial it
never sees), and waits a grace period even for a process known to be dead on this host.

``study.ask`` creates its trial before the driver can record itself on it. Around that gap a driver
raises a study attribute ``archscout:asking:<driver>`` (the time; None when lowered): a RUNNING
trial with no driver recorded is an orphan once no live driver has its flag up, and its driver
recorded is re-checked before it is taken over (see ``Ledger.stale``).
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
ASKING_KEY = "archscout:asking:"

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


def driver_alive(worker_id: str, attrs: dict, since: float | None = None) -> bool:
    """Whether a driver lives: its process on this host, else its heartbeat in the study system ``attrs``
    (one that never beat is alive until ``STALE_AFTER_S`` after ``since``, a time.time())."""
    alive = is_alive(worker_id)
    if alive is not None:
        return alive
    age = heartbeat_age(attrs, worker_id)
    if age is None:
        age = 0.0 if since is None else time.time() - since
    return age < STALE_AFTER_S


def asking(attrs: dict, me: str) -> list[str]:
    """The live drivers other than ``me`` whose asking flag is up in the study system ``attrs``."""
    return [key[len(ASKING_KEY):] for key, since in attrs.items()
            if key.startswith(ASKING_KEY) and since is not None and key[len(ASKING_KEY):] != me
            and driver_alive(key[len(ASKING_KEY):], attrs, float(since))]


class Heartbeat:
    """A daemon thread calling ``beat()`` every ``interval`` seconds until stopped (errors ignored); the
    first beat is made on entering, so a driver has beaten before it creates any trial."""

    def __init__(self, beat: Callable[[], None], interval: float = HEARTBEAT_S):
        self._beat, self._interval = beat, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archscout-heartbeat", daemon=True)

    def _once(self) -> None:
        try:
            self._beat()
        except Exception:  # noqa: BLE001  (a busy database must not kill the run; next beat retries)
            pass

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._once()

    def __enter__(self) -> "Heartbeat":
        self._once()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def heartbeat_age(attrs: dict, worker_id: str, now: float | None = None) -> float | None:
    """Seconds since the driver's last heartbeat (study system attrs), None if it never beat."""
    t = attrs.get(HEARTBEAT_KEY + worker_id)
    return None if t is None else (time.time() if now is None else now) - float(t)
