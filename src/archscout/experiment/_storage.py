"""Where a study lives: an SQLite file (default), any SQLAlchemy URL (PostgreSQL), a journal file, memory.

SQLite is tuned for several processes on one file: WAL journal (readers never block the writer),
``synchronous=NORMAL`` (no fsync per commit; a power cut may lose the last commits, never corrupt
the file), a 60 s busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` so that two
processes never both read and then both try to write (the classic "database is locked": SQLite
cannot make a reader wait for a writer in that case, it fails at once). Before ``BEGIN IMMEDIATE``
a transaction also takes an exclusive ``flock`` on ``.study.db.lock`` (released at commit or
rollback): the kernel queues waiting processes and wakes the next one at once, where SQLite's busy
handler would poll with sleeps of up to 100 ms (four drivers on one file ran 3x slower than one).
Creating the schema is serialized across processes the same way (an advisory lock on PostgreSQL),
so workers started at the same moment on a fresh database are safe.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import optuna

from archscout.exceptions import ArchscoutError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's own busy waiting only
    fcntl = None

SQLITE_BUSY_TIMEOUT_S = 60
_MEMORY = ("memory", ":memory:")
_HELP = ("use sqlite:///PATH, an SQLAlchemy URL such as postgresql+psycopg2://user@host/db, "
         "journal:PATH, or memory")


def redact(url: str) -> str:
    """The URL without its password (safe to print and to store in result.json)."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (an unparsable URL has no password we could find)
        return url


def _bad(url: str, why: str) -> ArchscoutError:
    return ArchscoutError(f"storage {redact(url)!r} cannot be opened ({why}); {_HELP}")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL (None for other URLs and in-memory SQLite)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def check_storage_url(url: str) -> None:
    """Reject what can never work before anything runs (unknown scheme, missing driver, empty path)."""
    if url in _MEMORY:
        return
    if url.startswith("journal:"):
        if not url.removeprefix("journal:").strip():
            raise _bad(url, "journal: needs a file path")
        return
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001  (ArgumentError and friends)
        raise _bad(url, "not a URL") from None
    if parsed.get_backend_name() == "sqlite" and sqlite_path(url) is None:
        raise _bad(url, "in-memory SQLite is private to one connection; use memory")
    try:
        parsed.get_dialect()
    except Exception as exc:  # noqa: BLE001  (NoSuchModuleError, ImportError of the driver)
        raise _bad(url, _first_line(exc)) from None


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


class _LockingConnection(sqlite3.Connection):
    """An sqlite3 connection holding an exclusive flock on the database's lock file during transactions."""

    lock_path: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock_fd: int | None = None
        self._locked = False

    def acquire(self) -> None:
        if fcntl is None:
            return
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._locked = True

    def release(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _connection_class(path: Path) -> type:
    return type("LockingConnection", (_LockingConnection,), {"lock_path": str(_lock_file(path))})


@contextlib.contextmanager
def _init_lock(url: str) -> Iterator[None]:
    """Serialize schema creation across processes on the same database."""
    path = sqlite_path(url)
    if path is not None and fcntl is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(_lock_file(path), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    if url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        key = zlib.crc32(b"archscout-study-init") - 2**31
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        finally:
            engine.dispose()
        return
    yield


def _tune_sqlite(storage: optuna.storages.RDBStorage) -> None:
    """WAL, synchronous=NORMAL, busy timeout and BEGIN IMMEDIATE on every connection of the engine."""
    from sqlalchemy import event

    engine = storage.engine

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver's own implicit BEGIN off: we emit ours
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, _LockingConnection):
            dbapi_connection.acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(dbapi_connection, _LockingConnection):
                dbapi_connection.release()
            raise

    engine.dispose()  # connections made while Optuna created the schema lack the settings


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` (see the module docstring); one-line ArchscoutError if it cannot open."""
    check_storage_url(url)
    if url in _MEMORY:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise _bad(url, _first_line(exc)) from None
    with contextlib.suppress(ImportError):  # Optuna imports these on first use: not while holding the lock
        import alembic.command  # noqa: F401
        import alembic.migration  # noqa: F401
        import alembic.script  # noqa: F401
        from optuna.storages._rdb import models  # noqa: F401
    sqlite = sqlite_path(url) is not None
    kwargs = ({"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "factory": _connection_class(sqlite_path(url))}}
              if sqlite else {"pool_pre_ping": True})
    last: Exception | None = None
    for attempt in range(5):  # a database being created by another process may be briefly inconsistent
        try:
            with _init_lock(url):
                storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            if sqlite:
                _tune_sqlite(storage)
            return storage
        except ArchscoutError:
            raise
        except Exception as exc:  # noqa: BLE001  (SQLAlchemy and drivers raise many kinds)
            last = exc
            if "could not connect" in str(exc) or "Connection refused" in str(exc) or attempt == 4:
                break
            time.sleep(0.2 + random.random())
    raise _bad(url, _first_line(last)) from None


def open_study(url: str, name: str, directions: list[str], sampler: optuna.samplers.BaseSampler,
               user_attrs: dict | None = None) -> tuple[optuna.Study, bool]:
    """Load the named study or create it (same directions required; ``user_attrs`` set on creation).

    Returns the study and whether this call created it.
    """
    storage = make_storage(url)
    created = False
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions, sampler=sampler)
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another driver created it a moment ago
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        else:
            for key, value in (user_attrs or {}).items():
                study.set_user_attr(key, value)
    have = [d.name.lower() for d in study.directions]
    if have != list(directions):
        raise ArchscoutError(f"study {name!r} in {redact(url)} optimizes {have}, not {list(directions)}: "
                             "use another --name (or the same objectives) to resume it")
    return study, created
