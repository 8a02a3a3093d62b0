"""Executors evaluate archs, in the driver (``inline``), in a local process pool (``process``) or on
Ray (``ray``). The driver owns the study; an executor only turns an arch into an Evaluation.

Protocol: ``submit(key, arch)`` starts an evaluation; ``poll(timeout)`` waits until at least one
has finished (or ``timeout`` seconds passed) and returns ``(key, Evaluation or exception)`` pairs.
An exception raised by the evaluator comes back as the value: the run goes on. ``capacity`` is
how many evaluations may be in flight. Executors are context managers (workers stop on exit).
"""

from __future__ import annotations

import abc
import importlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archscout._procs import exit_with_parent
from archscout._registry import Registry
from archscout.evaluation import Evaluation, Evaluator
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.spaces import Arch

Outcome = Evaluation | BaseException
EvaluatorFactory = Callable[[], Evaluator]

# name -> class, or "module:Class" for executors needing an optional package (imported when chosen)
EXECUTORS: Registry[Any] = Registry("executor")


class Executor(abc.ABC):
    """Evaluates archs with evaluators built by ``make_evaluator`` (one per worker)."""

    def __init__(self, make_evaluator: EvaluatorFactory, n_workers: int = 1, **options: Any):
        if n_workers < 1:
            raise ArchscoutError(f"n_workers={n_workers} must be at least 1")
        self.make_evaluator = make_evaluator
        self.n_workers = n_workers

    @property
    def capacity(self) -> int:
        return self.n_workers

    @abc.abstractmethod
    def submit(self, key: int, arch: Arch) -> None: ...

    @abc.abstractmethod
    def poll(self, timeout: float | None = None) -> list[tuple[int, Outcome]]: ...

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def register_executor(name: str, entry: Any) -> None:
    """Register an Executor subclass (or its ``"module:Class"`` path, imported when chosen)."""
    EXECUTORS.add(name, entry)


def list_executors() -> list[str]:
    return EXECUTORS.names()


def check_executor(name: str) -> None:
    if name not in EXECUTORS:
        raise UnknownNameError("executor", name, EXECUTORS.names())


def create_executor(name: str, make_evaluator: EvaluatorFactory, n_workers: int = 1, **options: Any) -> Executor:
    """An executor by name, e.g. ``create_executor("process", EvaluatorSpec(...), n_workers=4)``."""
    entry = EXECUTORS.get(name)
    if isinstance(entry, str):
        module, _, cls = entry.partition(":")
        entry = getattr(importlib.import_module(module), cls)
    return entry(make_evaluator, n_workers, **options)


class InlineExecutor(Executor):
    """Evaluates in the driver, one arch at a time (the default; no pickling, no processes)."""

    def __init__(self, make_evaluator: EvaluatorFactory, n_workers: int = 1, **options: Any):
        if n_workers != 1:
            raise ArchscoutError(f"executor 'inline' evaluates one arch at a time (n_workers={n_workers}); "
                                 "use executor 'process' or 'ray' for several workers")
        super().__init__(make_evaluator, 1)
        self._evaluator: Evaluator | None = None
        self._done: list[tuple[int, Outcome]] = []

    def submit(self, key: int, arch: Arch) -> None:
        if self._evaluator is None:
            self._evaluator = self.make_evaluator()
        try:
            self._done.append((key, self._evaluator.evaluate(arch)))
        except Exception as exc:  # noqa: BLE001  (recorded as a failed trial)
            self._done.append((key, exc))

    def poll(self, timeout: float | None = None) -> list[tuple[int, Outcome]]:
        done, self._done = self._done, []
        return done


_worker_evaluator: Evaluator | None = None


def _init_worker(make_evaluator: EvaluatorFactory, driver: int) -> None:
    global _worker_evaluator
    exit_with_parent(driver)
    _worker_evaluator = make_evaluator()


def _evaluate(arch: Arch) -> Evaluation:
    assert _worker_evaluator is not None
    return _worker_evaluator.evaluate(arch)


class ProcessExecutor(Executor):
    """A local pool of ``n_workers`` processes (spawned: safe with threads and open databases).

    Each worker builds its evaluator once and exits when the driver is gone (even killed while the
    worker was still starting: ``exit_with_parent``). A worker that dies (crash, out of memory) fails the
    evaluations it held; the pool is rebuilt and the run goes on.
    """

    def __init__(self, make_evaluator: EvaluatorFactory, n_workers: int = 1, **options: Any):
        super().__init__(make_evaluator, n_workers)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, int] = {}
        self._breaks = self._successes = 0

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.n_workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.make_evaluator, os.getpid()))
        return self._pool

    def submit(self, key: int, arch: Arch) -> None:
        try:
            future = self._ensure_pool().submit(_evaluate, arch)
        except BrokenProcessPool:
            self._restart()
            future = self._ensure_pool().submit(_evaluate, arch)
        self._futures[future] = key

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def poll(self, timeout: float | None = None) -> list[tuple[int, Outcome]]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[tuple[int, Outcome]] = []
        broken = False
        for future in done:
            key = self._futures.pop(future)
            exc = future.exception()
            if isinstance(exc, BrokenProcessPool):
                broken = True
                exc = ArchscoutError("the worker process died during the evaluation (crash or out of memory)")
            out.append((key, exc if exc is not None else future.result()))
        if broken:
            self._restart()
            self._breaks += 1
            if self._breaks >= 2 and not self._successes:
                raise ArchscoutError("the worker processes die before evaluating anything (is the evaluator "
                                     "importable and picklable? see the error above)")
        self._successes += sum(not isinstance(o, BaseException) for _, o in out)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


register_executor("inline", InlineExecutor)
register_executor("process", ProcessExecutor)
register_executor("ray", "archscout.experiment._ray_executor:RayExecutor")
