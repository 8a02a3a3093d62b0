"""The Ray executor: ``n_workers`` Ray actors, each holding one evaluator (``pip install 'archscout[ray]'``).

``ray_address`` joins an existing cluster (``ray://host:10001`` or ``auto``); without it a local Ray
instance is started with ``n_workers`` CPUs and stopped at the end. ``gpus_per_trial`` (fractions allowed,
e.g. 0.25: four trainings share a GPU) reserves GPUs for each actor; Ray then sets its
``CUDA_VISIBLE_DEVICES``, so an evaluator's ``accelerator="auto"`` finds its GPU. Only evaluations run on Ray:
the driver keeps the study (so the storage need not be reachable from the cluster).
"""

from __future__ import annotations

from typing import Any

from archscout.exceptions import ArchscoutError
from archscout.experiment._executors import EvaluatorFactory, Executor, Outcome
from archscout.spaces import Arch

try:
    import ray
except ImportError:  # pragma: no cover - depends on the environment
    ray = None


def _cause(exc: BaseException) -> str:
    """The most telling line of a Ray error (the root exception's, when Ray's message quotes it)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error:" in ln or "Exception:" in ln:
            return ln
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class _Worker:
    def __init__(self, make_evaluator: EvaluatorFactory):
        self.evaluator = make_evaluator()

    def evaluate(self, arch: Arch):
        return self.evaluator.evaluate(arch)


class RayExecutor(Executor):
    """Evaluations on Ray actors; a dead actor fails its evaluation and is replaced."""

    def __init__(self, make_evaluator: EvaluatorFactory, n_workers: int = 1, ray_address: str | None = None,
                 gpus_per_trial: float = 0.0, **options: Any):
        if ray is None:
            raise ArchscoutError("executor 'ray' needs Ray: pip install 'archscout[ray]'")
        if isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, (int, float)) or gpus_per_trial < 0:
            raise ArchscoutError(f"gpus_per_trial {gpus_per_trial!r} must be a number >= 0 (fractions allowed)")
        super().__init__(make_evaluator, n_workers)
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": ray_address} if ray_address else {
                "num_cpus": n_workers, "include_dashboard": False}
            try:
                ray.init(log_to_driver=False, configure_logging=False, **kwargs)
            except Exception as exc:  # noqa: BLE001  (ConnectionError, RuntimeError, ...)
                where = f"at {ray_address!r}" if ray_address else "locally"
                raise ArchscoutError(f"Ray could not start {where}: {str(exc).splitlines()[0]}") from None
            self._started = True
        self._cls = ray.remote(num_cpus=1, num_gpus=gpus_per_trial)(_Worker)
        self._factory_ref = ray.put(make_evaluator)
        self._idle = [self._cls.remote(self._factory_ref) for _ in range(n_workers)]
        self._running: dict[Any, tuple[int, Any]] = {}  # object ref -> (key, actor)
        self._deaths = self._successes = 0

    def submit(self, key: int, arch: Arch) -> None:
        if not self._idle:
            raise ArchscoutError("all Ray workers are busy")
        actor = self._idle.pop()
        self._running[actor.evaluate.remote(arch)] = (key, actor)

    def poll(self, timeout: float | None = None) -> list[tuple[int, Outcome]]:
        if not self._running:
            return []
        ready, _ = ray.wait(list(self._running), num_returns=1, timeout=timeout)
        out: list[tuple[int, Outcome]] = []
        for ref in ready:
            key, actor = self._running.pop(ref)
            try:
                out.append((key, ray.get(ref)))
                self._idle.append(actor)
            except ray.exceptions.RayTaskError as exc:  # the evaluator raised: the actor is fine
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                out.append((key, cause))
                self._idle.append(actor)
            except ray.exceptions.RayError as exc:  # the actor died: replace it
                if "creation task" in str(exc) or getattr(exc, "actor_init_failed", False):
                    raise ArchscoutError(f"Ray workers cannot build the evaluator: {_cause(exc)}") from None
                self._deaths += 1
                if self._deaths > self.n_workers + 2 and not self._successes:
                    raise ArchscoutError(f"Ray workers keep dying ({_cause(exc)})") from None
                out.append((key, ArchscoutError(f"the Ray worker died during the evaluation ({_cause(exc)})")))
                self._idle.append(self._cls.remote(self._factory_ref))
        self._successes += sum(not isinstance(o, BaseException) for _, o in out)
        return out

    def close(self) -> None:
        for actor in self._idle + [a for _, a in self._running.values()]:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001
                pass
        self._idle, self._running = [], {}
        if self._started:
            ray.shutdown()
            self._started = False
