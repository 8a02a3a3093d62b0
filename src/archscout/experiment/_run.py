"""Run a multi-trial experiment on an Optuna study: resumable, parallel, multi-objective, constrained.

The driver owns the study. It keeps up to ``capacity`` evaluations in flight on an executor: it
reserves trials (the strategy proposes the arch), submits them, and as each evaluation finishes it
tells the result and reserves the next one. Several drivers (processes, machines) may run the same
command on one study: the budget ``n_trials`` is shared, each arch is proposed once, and a driver
that dies has its running trials taken over by the next step of another (or of the re-run command).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from archscout.evaluation import Evaluation, Evaluator
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.experiment._config import Constraint, ExperimentConfig, Objective
from archscout.experiment._evaluators import EvaluatorSpec, GivenEvaluator, check_feasible
from archscout.experiment._executors import Executor, create_executor
from archscout._rundir import write_json
from archscout.experiment._result import write_result
from archscout.experiment._storage import make_storage, open_study
from archscout.experiment._store import Finish, OptunaTrialStore, Reservation, SQLTrialStore, TrialStore
from archscout.experiment._worker import Heartbeat, new_worker_id, retire
from archscout.strategies import ArchSampler, make_sampler

CONFIG_ATTR = "archscout:config"


@dataclass
class Progress:
    """What a progress display shows after each step."""

    done: int  # finished trials of the study (every driver's), void ones excluded
    total: int
    best: str  # best value so far (one objective) or the size of the Pareto front


def evaluator_spec(config: ExperimentConfig) -> EvaluatorSpec:
    """The evaluator of ``config``; a training evaluator gets ``RUN/train`` for its per-arch runs and the
    upper-bound constraints as limits checked before training."""
    options = dict(config.evaluator_options)
    if config.evaluator == "train":
        options.setdefault("run_dir", str(config.run_path / "train"))
        limits = {c.metric: c.bound for c in config.parsed_constraints() if c.op in ("<=", "<")}
        options["limits"] = {**limits, **options.get("limits", {})}
    return EvaluatorSpec(config.evaluator, config.space, config.dataset, options)


def default_evaluator(config: ExperimentConfig) -> Evaluator:
    return evaluator_spec(config)()


def _finish(r: Reservation, outcome: Evaluation | BaseException, space, objectives: list[Objective],
            constraints: list[Constraint]) -> Finish:
    """The trial record of one evaluation outcome (an exception or a NaN objective: a FAIL trial)."""
    arch = space.to_str(r.arch)
    if isinstance(outcome, BaseException):
        text = str(outcome).strip().splitlines()
        return Finish(r, TrialState.FAIL, attrs={"arch": arch, "error": f"{type(outcome).__name__}: "
                                                 f"{text[0] if text else ''}".rstrip(": ")})
    needed = list(dict.fromkeys([o.metric for o in objectives] + [c.metric for c in constraints]))
    missing = [m for m in needed if m not in outcome.values]
    if missing:
        return Finish(r, TrialState.FAIL, attrs={"arch": arch, "error": f"the evaluator gave no {missing}"})
    metrics = {m: float(outcome.values[m]) for m in needed}
    violations = [float(c.violation(metrics[c.metric])) for c in constraints]
    attrs: dict[str, Any] = {"arch": arch, "metrics": metrics,
                             "reported": {k: float(v) for k, v in outcome.reported.items()},
                             "cost_s": float(outcome.cost_s), "constraints": violations}
    values = tuple(metrics[o.metric] for o in objectives)
    nan = [o.metric for o, v in zip(objectives, values) if v != v]
    if nan:
        attrs["error"] = f"objective {', '.join(nan)} is NaN for {arch}: the evaluator has no value"
        return Finish(r, TrialState.FAIL, attrs=attrs)
    return Finish(r, TrialState.COMPLETE, values, attrs, violations or None)


class _Best:
    """Best value so far (one objective) or the current Pareto front (several), for progress."""

    def __init__(self, directions: list[str]):
        self.signs = [1.0 if d == "minimize" else -1.0 for d in directions]
        self.front: list[tuple[float, ...]] = []
        self._seen = 0

    def update(self, history) -> str:
        for obs in history.observations[self._seen:]:
            if obs.violation > 0:
                continue
            p = tuple(s * v for s, v in zip(self.signs, obs.values))
            if any(all(a <= b for a, b in zip(q, p)) for q in self.front):
                continue
            self.front = [q for q in self.front if not all(a <= b for a, b in zip(p, q))] + [p]
        self._seen = len(history.observations)
        if not self.front:
            return "-"
        if len(self.signs) == 1:
            return f"{self.signs[0] * self.front[0][0]:.4g}"
        return f"{len(self.front)} on the front"


@contextlib.contextmanager
def _held_interrupts() -> Iterator[None]:
    """Ctrl-C (SIGINT) waits for the end of the block, a store step (milliseconds): one cut inside a database
    transaction leaves it open, and the clean-up's own step then waits out SQLite's busy timeout."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield  # only the main thread receives signals; None: a handler not set from Python, left alone
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)  # to the handler of before: KeyboardInterrupt by default


def _make_store(study: optuna.Study, sampler, space, budget: int, worker: str) -> TrialStore:
    if isinstance(sampler, ArchSampler) and SQLTrialStore.supports(study._storage):
        return SQLTrialStore(study, space, budget, worker)
    return OptunaTrialStore(study, space, budget, worker, use_ask=not isinstance(sampler, ArchSampler))


def _drive(store: TrialStore, executor: Executor, propose, space, objectives, constraints,
           progress: Callable[[Progress], None] | None) -> None:
    """The ask/evaluate/tell loop (see the module docstring)."""
    led = store.ledger
    inflight: dict[int, Reservation] = {}
    deferred: list[Reservation] = []  # arch running in another trial: answered from it when done
    finished: list[Finish] = []
    best = _Best([d.name.lower() for d in store.study.directions])

    def repeat_of(r: Reservation) -> Finish | None:
        hit = led.complete.get(r.arch)
        if hit is None or hit[0] == r.trial_id:
            return None
        tid, values, cons = hit
        return Finish(r, TrialState.COMPLETE, values, {"repeat": True, "repeat_of": led.trials[tid].number},
                      cons or None, copy_from=tid)

    def route(r: Reservation) -> None:
        f = repeat_of(r)
        if f is not None:
            finished.append(f)
        elif led.pending_elsewhere(r.arch, r.trial_id, before=r.number):  # the earliest trial evaluates it
            deferred.append(r)
        else:
            inflight[r.trial_id] = r
            executor.submit(r.trial_id, r.arch)

    try:
        while True:
            want = 0 if store.stop is not None else executor.capacity - len(inflight) - len(deferred)
            with _held_interrupts():
                new = store.step(finished, want, propose)
                finished = []
            waiting, deferred = deferred, []
            for r in waiting + new:
                route(r)
            if progress is not None:
                progress(Progress(led.n_finished, store.budget, best.update(led.history)))
            if not inflight and not finished:
                if not deferred and not new:
                    break
                if deferred:
                    time.sleep(0.2)  # nothing to wait for here: let the other drivers progress
                continue
            timeout = 0.0 if finished else (0.5 if deferred else None)
            for key, outcome in executor.poll(timeout):
                finished.append(_finish(inflight.pop(key), outcome, space, objectives, constraints))
    except BaseException:
        try:
            with _held_interrupts():
                if finished:
                    store.step(finished, 0, propose)
                # every reservation not told: in flight, deferred, and those of a step a Ctrl-C came during
                store.give_up(list(store.mine.values()), "interrupted before the evaluation was recorded")
        except Exception:  # noqa: BLE001  (the original error matters more; the next run takes them over)
            pass
        raise
    if store.stop is not None:
        raise store.stop


def run_experiment(config: ExperimentConfig, evaluator: Evaluator | Callable[[], Evaluator] | None = None,
                   progress: Callable[[Progress], None] | None = None) -> optuna.Study:
    """Run (or resume) the experiment until the study holds ``config.n_trials`` trials; returns the study.

    Re-running the same config resumes: finished trials are kept, running trials of a dead driver
    are evaluated again, and only the rest are run. An arch already evaluated in the study is
    answered from it (``user_attrs["archscout"]["repeat"]``). Writes ``config.json`` and
    ``result.json`` to ``config.run_path``.

    Args:
        config: the experiment (validated on construction).
        evaluator: None = ``config.evaluator`` from the registry; an Evaluator; or a picklable
            zero-argument factory (process and Ray workers then build their own evaluator).
        progress: called after every step with a ``Progress``.

    Example:
        >>> cfg = ExperimentConfig(strategy="rea", n_trials=50, run_dir=tmp, name="demo")  # doctest: +SKIP
        >>> run_experiment(cfg).best_value  # valid error (%) of the best arch found  # doctest: +SKIP
    """
    if evaluator is None:
        make_evaluator: Callable[[], Evaluator] = evaluator_spec(config)
        evaluator = make_evaluator()
    elif isinstance(evaluator, Evaluator):
        make_evaluator = GivenEvaluator(evaluator)
    else:
        make_evaluator, evaluator = evaluator, evaluator()
    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()
    for metric in dict.fromkeys([o.metric for o in objectives] + [c.metric for c in constraints]):
        if metric not in evaluator.metrics:
            raise UnknownNameError(f"metric of the {config.evaluator} evaluator on {config.space}/{config.dataset}",
                                   metric, evaluator.metrics)
    check_feasible(evaluator, constraints)
    space = evaluator.space
    sampler = make_sampler(config.strategy, space, config.seed, **config.strategy_options)
    key = config.search_key()
    study, created = open_study(config.storage_url(), config.study_name, [o.direction for o in objectives],
                                sampler, {CONFIG_ATTR: key})
    if not created:  # resuming, or joining other drivers: a stream of its own (same seed = same proposals)
        sampler.reseed_rng()
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is not None and stored != json.loads(json.dumps(key)):
        diff = {k: stored.get(k) for k in key if stored.get(k) != key[k]}
        raise ArchscoutError(f"study {config.study_name!r} was created for {diff}; use another name to "
                             "search for something else (or the same settings to resume it)")
    write_json(config.run_path / "config.json", asdict(config))
    worker = new_worker_id()
    store = _make_store(study, sampler, space, config.n_trials, worker)
    propose = sampler.propose if isinstance(sampler, ArchSampler) else None
    options = {k: v for k, v in (("ray_address", config.ray_address), ("gpus_per_trial", config.gpus_per_trial)) if v}
    try:
        with contextlib.ExitStack() as stack:
            executor = stack.enter_context(
                create_executor(config.executor, make_evaluator, config.n_workers, **options))
            if not isinstance(study._storage, optuna.storages.InMemoryStorage):
                stack.enter_context(Heartbeat(store.heartbeat))
            _drive(store, executor, propose, space, objectives, constraints, progress)
        with _held_interrupts():
            store.step([], 0, propose)  # a last look: the other drivers' latest trials
        write_result(store, config)
    finally:
        retire(worker)
    return study


__all__ = ["Progress", "default_evaluator", "make_storage", "run_experiment"]
