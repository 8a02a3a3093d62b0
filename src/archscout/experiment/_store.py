"""The driver's view of a study: which trials exist, the strategy's History, and the writes of a step.

One *step* (``TrialStore.step``) tells the finished trials, reads what other drivers did, takes
over trials whose driver died, and reserves new trials (arch chosen, params written, state
RUNNING) while the budget allows. Two implementations:

- ``OptunaTrialStore`` goes through Optuna's public storage API: any storage, any sampler
  (Optuna's own samplers ask through ``study.ask`` as usual). A trial it creates itself carries its
  driver from the first write (a template trial); ``study.ask`` and claiming an enqueued trial are
  several writes, covered by the driver's asking flag (``_worker``). A dead driver's trial is voided
  (its FAIL is the compare-and-set: one driver wins) and its arch re-run as a new trial.
- ``SQLTrialStore`` is the fast path for archscout's strategies (``ArchSampler``) on an
  ``RDBStorage`` (SQLite, PostgreSQL): a step is ONE transaction that holds the study's lock
  (SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``SELECT ... FOR UPDATE`` on the study row, the lock
  Optuna's own trial creation takes), so the budget is exact and two drivers never propose the
  same arch. It writes the very rows Optuna writes (through Optuna's table definitions), so the
  study stays a normal Optuna study (dashboard, ``load_study``, other samplers). A trial is created
  or taken over together with its driver, in place.

Every trial's results are ONE user attribute ``archscout`` (arch, metrics, reported, cost_s,
constraints, repeat, error); constraint values are Optuna's ``constraints`` system attribute, so
Optuna's samplers and ``best_trial`` see them. System attributes ``archscout:worker`` (the driver
running it) and ``archscout:void`` (a trial given up without evaluation: over budget, interrupted;
it does not count toward the budget) complete the picture.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import TrialState

from archscout.exceptions import ArchscoutError
from archscout.experiment._worker import ASKING_KEY, HEARTBEAT_KEY, asking, driver_alive, is_alive
from archscout.spaces import Arch, SearchSpace
from archscout.strategies import History, arch_distributions, arch_from_params

ATTR = "archscout"  # the one user attribute holding a trial's results
OWNER = "archscout:worker"
VOID = "archscout:void"
CONSTRAINTS = "constraints"  # Optuna's own key (list form): feasible when every value <= 0
FIXED = "fixed_params"  # Optuna's key for the params of an enqueued (WAITING) trial

Propose = Callable[[History], Arch]


@dataclass
class TrialInfo:
    trial_id: int
    number: int
    state: TrialState
    arch: Arch | None
    owner: str | None = None
    void: bool = False
    started: datetime | None = None


@dataclass
class Reservation:
    """A trial this driver must finish: evaluate ``arch`` and tell the result."""

    trial_id: int
    number: int
    arch: Arch
    taken_over: bool = False  # from a dead driver or an enqueued trial (attrs may need replacing)


@dataclass
class Finish:
    """The outcome of one reserved trial, to be written at the next step."""

    reservation: Reservation
    state: TrialState
    values: tuple[float, ...] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    constraints: list[float] | None = None
    copy_from: int | None = None  # a repeat: attrs are the original trial's (by trial_id), marked repeat


class Ledger:
    """Every trial of the study as this driver last saw it, and the History strategies propose from."""

    def __init__(self, space: SearchSpace, directions: Sequence[str]):
        self.space, self.directions = space, tuple(directions)
        self.reset()

    def reset(self) -> None:
        self.history = History(self.space, self.directions)
        self.trials: dict[int, TrialInfo] = {}
        self.unfinished: dict[int, TrialInfo] = {}
        self.complete: dict[Arch, tuple[int, tuple[float, ...], list[float]]] = {}  # arch -> first COMPLETE
        self.n_void = 0
        self.n_finished = 0  # finished and not void: what the budget counts as done

    @property
    def counting(self) -> int:
        """Trials that count toward the budget: all but the void ones (running ones included)."""
        return len(self.trials) - self.n_void

    def see(self, t: TrialInfo, values: Sequence[float] | None = None,
            constraints: Sequence[float] | None = None) -> None:
        prev = self.trials.get(t.trial_id)
        if prev is not None and prev.state.is_finished():
            return  # finished trials never change
        self.trials[t.trial_id] = t
        if not t.state.is_finished():
            self.unfinished[t.trial_id] = t
            if t.arch is not None:
                self.history.pending.add(t.arch)
            return
        self.unfinished.pop(t.trial_id, None)
        if t.void:
            self.n_void += 1
            if t.arch is not None and not self.pending_elsewhere(t.arch, t.trial_id):
                self.history.pending.discard(t.arch)
            return
        self.n_finished += 1
        if t.arch is None:
            return
        if t.state == TrialState.COMPLETE and values is not None:
            cons = [float(c) for c in constraints or []]
            self.history.add(t.arch, tuple(values), max(cons or [0.0]))
            self.complete.setdefault(t.arch, (t.trial_id, tuple(values), cons))
        else:
            self.history.add_failed(t.arch)

    def pending_elsewhere(self, arch: Arch, trial_id: int, before: int | None = None) -> bool:
        """Whether another unfinished trial holds ``arch`` (one numbered below ``before``, if given)."""
        return any(t.arch == arch and t.trial_id != trial_id and (before is None or t.number < before)
                   for t in self.unfinished.values())

    def stale(self, me: str, study_attrs: Callable[[], dict]) -> list[TrialInfo]:
        """Unfinished trials to take over: WAITING (enqueued) ones, RUNNING ones of dead drivers, and RUNNING
        ones with no driver recorded while no live driver is asking (``study_attrs``: the study's system
        attributes, read after the trials). The caller must re-read that a driverless trial still has none
        before taking it: its driver may have recorded itself and lowered its flag in between."""
        out, attrs = [], None
        for t in sorted(self.unfinished.values(), key=lambda t: t.number):
            if t.state == TrialState.WAITING:
                out.append(t)
                continue
            if t.owner == me:
                continue
            alive = None if t.owner is None else is_alive(t.owner)  # this host: no need to read the study
            if alive is None:
                attrs = study_attrs() if attrs is None else attrs
                alive = (bool(asking(attrs, me)) if t.owner is None else
                         driver_alive(t.owner, attrs, t.started.timestamp() if t.started else None))
            if not alive:
                out.append(t)
        return out


class TrialStore:
    """Base: the ledger, the budget and the step protocol shared by both stores."""

    fast = False

    def __init__(self, study: optuna.Study, space: SearchSpace, budget: int, worker: str):
        self.study, self.space, self.budget, self.worker = study, space, budget, worker
        self.ledger = Ledger(space, [d.name.lower() for d in study.directions])
        self.dists = arch_distributions(space)
        self.mine: dict[int, Reservation] = {}  # reserved by this driver, not yet told
        self.stop: ArchscoutError | None = None  # why the strategy could not propose (space exhausted, ...)

    def _propose(self, propose: Propose) -> Arch | None:
        try:
            return propose(self.ledger.history)
        except ArchscoutError as exc:
            self.stop = exc
            return None

    def step(self, finished: Sequence[Finish], want: int, propose: Propose) -> list[Reservation]:
        """Tell ``finished``, sync, then reserve up to ``want`` trials within the budget."""
        raise NotImplementedError

    def give_up(self, reservations: Sequence[Reservation], reason: str) -> None:
        """Void reserved trials that will not be evaluated (interrupted): they leave the budget."""
        raise NotImplementedError

    def attrs_of(self, trial_id: int) -> dict:
        return self.study._storage.get_trial(trial_id).user_attrs.get(ATTR, {})

    def heartbeat(self) -> None:
        self.study._storage.set_study_system_attr(self.study._study_id, HEARTBEAT_KEY + self.worker, time.time())

    def _arch(self, params: dict) -> Arch | None:
        try:
            return arch_from_params(self.space, params)
        except ArchscoutError:  # params of this space's names but not one of its archs
            return None


class OptunaTrialStore(TrialStore):
    """Steps through Optuna's public API: any storage; ``study.ask`` for Optuna's samplers."""

    def __init__(self, study: optuna.Study, space: SearchSpace, budget: int, worker: str, use_ask: bool):
        super().__init__(study, space, budget, worker)
        self.use_ask = use_ask
        self._settled = 0  # trials[:_settled] (by number) are finished and in the ledger
        self.storage = study._storage
        self.sid = study._study_id
        self._rerun: list[Arch] = []  # archs of dead drivers' trials voided by this step: re-run first
        self._flagged = False  # this driver's asking flag is up

    def _sync(self) -> None:
        led = self.ledger
        trials = self.storage.get_all_trials(self.sid, deepcopy=False)
        while self._settled < len(trials):
            seen = led.trials.get(trials[self._settled]._trial_id)
            if seen is None or not seen.state.is_finished():
                break
            self._settled += 1
        for t in trials[self._settled:]:
            known = led.trials.get(t._trial_id)
            if known is not None and (known.state.is_finished() or (known.state == t.state and
                                                                    t._trial_id in self.mine)):
                continue
            params = t.params if t.state != TrialState.WAITING else t.system_attrs.get(FIXED) or {}
            info = TrialInfo(t._trial_id, t.number, t.state, self._arch(params), t.system_attrs.get(OWNER),
                             VOID in t.system_attrs, t.datetime_start)
            led.see(info, t.values, t.system_attrs.get(CONSTRAINTS))

    def _write_finish(self, f: Finish) -> None:
        r, st = f.reservation, self.storage
        attrs = f.attrs
        if f.copy_from is not None:
            attrs = {**self.attrs_of(f.copy_from), **attrs}
        values = list(f.values) if f.state == TrialState.COMPLETE else None
        try:
            st.set_trial_user_attr(r.trial_id, ATTR, attrs)
            if f.constraints:
                st.set_trial_system_attr(r.trial_id, CONSTRAINTS, list(f.constraints))
            if self.use_ask:  # through the study: Optuna's samplers hear of it (after_trial)
                self.study.tell(r.number, values[0] if values and len(values) == 1 else values,
                                state=f.state, skip_if_finished=True)
            else:
                st.set_trial_state_values(r.trial_id, f.state, values)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # voided meanwhile by a driver that thought this one dead: its re-run stands
        self.mine.pop(r.trial_id, None)
        self.ledger.trials.pop(r.trial_id, None)  # re-read as finished (with its values) at the sync
        self.ledger.unfinished.pop(r.trial_id, None)

    def _void(self, trial_id: int, reason: str) -> bool:
        """Mark the trial void, then FAIL it; whether this call failed it (Optuna's state change is the
        compare-and-set: of drivers voiding one trial at once, one wins)."""
        self.mine.pop(trial_id, None)
        try:
            self.storage.set_trial_system_attr(trial_id, VOID, reason)
            return bool(self.storage.set_trial_state_values(trial_id, TrialState.FAIL))
        except optuna.exceptions.UpdateFinishedTrialError:
            return False

    def _set_flag(self, up: bool) -> None:
        """Raise (lower) this driver's asking flag: up while a trial of its may exist without its name."""
        if up != self._flagged:
            self.storage.set_study_system_attr(self.sid, ASKING_KEY + self.worker, time.time() if up else None)
            self._flagged = up

    def _take_over(self, t: TrialInfo) -> Reservation | None:
        st = self.storage
        if t.state == TrialState.WAITING:  # claimed (a compare-and-set), then named: under the flag
            self._set_flag(True)
            if not st.set_trial_state_values(t.trial_id, TrialState.RUNNING):
                return None  # another driver claimed it
            if t.arch is None:
                self._void(t.trial_id, "enqueued trial does not name a whole architecture")
                return None
            for name, value in zip(self.space.param_names, t.arch.ops):
                st.set_trial_param(t.trial_id, name, float(value), self.dists[name])
            st.set_trial_system_attr(t.trial_id, OWNER, self.worker)
            return Reservation(t.trial_id, t.number, t.arch, taken_over=True)
        if t.owner is None and st.get_trial(t.trial_id).system_attrs.get(OWNER) is not None:
            return None  # its driver recorded itself after all: alive
        if t.void:  # its driver died while giving it up: finish that
            self._void(t.trial_id, "interrupted before the evaluation was recorded")
        elif t.arch is None:
            self._void(t.trial_id, "its driver died before the architecture was chosen")
        elif self._void(t.trial_id, "its driver died during the evaluation: re-run as a new trial"):
            self._rerun.append(t.arch)
        return None

    def _heartbeats(self) -> dict:
        return self.storage.get_study_system_attrs(self.sid)

    def _counted_before(self, number: int) -> int:
        """Trials numbered below ``number`` that count: numbers are dense, so all of them but the void ones
        (void ones not yet seen make this an overestimate: the caller then syncs and asks again)."""
        if number < self.budget:
            return number
        return number - sum(1 for t in self.ledger.trials.values() if t.void and t.number < number)

    def _enqueued(self) -> bool:
        """Whether ``study.ask`` would pop an enqueued trial (they already count toward the budget)."""
        return self.use_ask and any(t.state == TrialState.WAITING for t in self.ledger.unfinished.values())

    def _create(self, propose: Propose) -> Reservation | None:
        if self.use_ask and not self._rerun:
            self._set_flag(True)  # the trial exists before this driver can record itself on it
            trial = self.study.ask(fixed_distributions=self.dists)
            self.storage.set_trial_system_attr(trial._trial_id, OWNER, self.worker)
            tid, number, arch = trial._trial_id, trial.number, self._arch(trial.params)
            if arch is None:
                self.storage.set_trial_user_attr(tid, ATTR, {"error": f"not an architecture: {trial.params}"})
                self.study.tell(trial, state=TrialState.FAIL)
                return None
        else:
            arch = self._rerun.pop(0) if self._rerun else self._propose(propose)
            if arch is None:
                return None
            template = optuna.trial.create_trial(
                state=TrialState.RUNNING, params=dict(zip(self.space.param_names, arch.ops)),
                distributions=dict(self.dists), system_attrs={OWNER: self.worker})
            tid = self.storage.create_new_trial(self.sid, template_trial=template)  # named from its first write
            number = self.storage.get_trial_number_from_id(tid)
        return Reservation(tid, number, arch)

    def step(self, finished: Sequence[Finish], want: int, propose: Propose) -> list[Reservation]:
        for f in finished:
            self._write_finish(f)
        self._sync()
        out: list[Reservation] = []
        touched = False
        for t in self.ledger.stale(self.worker, self._heartbeats) if want > 0 else []:
            if len(out) + len(self._rerun) >= want:
                break
            if self.use_ask and t.state == TrialState.WAITING:
                continue  # study.ask pops enqueued trials itself
            touched = True
            r = self._take_over(t)
            if r is not None:
                out.append(r)
        if touched:
            self._sync()
        while len(out) < want and self.stop is None and (self.ledger.counting < self.budget or self._enqueued()):
            r = self._create(propose)
            if r is None:
                self._sync()
                continue
            if self._counted_before(r.number) >= self.budget:  # maybe other drivers took the last slots
                self._sync()
                if self._counted_before(r.number) >= self.budget:
                    self._void(r.trial_id, "over budget: other drivers filled the study first")
                    self._rerun.clear()
                    self._sync()
                    break
            self.ledger.see(TrialInfo(r.trial_id, r.number, TrialState.RUNNING, r.arch, self.worker))
            out.append(r)
        self._rerun.clear()  # not re-run now (budget full, enough work): its arch is free to propose again
        for r in out:
            self.mine[r.trial_id] = r
            self.ledger.see(TrialInfo(r.trial_id, r.number, TrialState.RUNNING, r.arch, self.worker))
        self._set_flag(False)
        return out

    def give_up(self, reservations: Sequence[Reservation], reason: str) -> None:
        for r in reservations:
            self._void(r.trial_id, reason)


class SQLTrialStore(TrialStore):
    """One transaction per step on an RDBStorage, written through Optuna's table definitions."""

    fast = True

    @staticmethod
    def supports(storage: Any) -> bool:
        backend = getattr(storage, "_backend", storage)
        if not isinstance(backend, optuna.storages.RDBStorage):
            return False
        try:
            from optuna.storages._rdb import models as m
        except ImportError:
            return False
        need = {m.TrialModel: {"trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete"},
                m.TrialParamModel: {"trial_id", "param_name", "param_value", "distribution_json"},
                m.TrialValueModel: {"trial_id", "objective", "value", "value_type"},
                m.TrialUserAttributeModel: {"trial_id", "key", "value_json"},
                m.TrialSystemAttributeModel: {"trial_id", "key", "value_json"},
                m.StudySystemAttributeModel: {"study_id", "key", "value_json"}}
        return all(cols <= set(model.__table__.c.keys()) for model, cols in need.items()) and \
            hasattr(m.TrialValueModel, "value_to_stored_repr")

    def __init__(self, study: optuna.Study, space: SearchSpace, budget: int, worker: str):
        super().__init__(study, space, budget, worker)
        from optuna.storages._rdb import models as m
        from sqlalchemy import bindparam, or_, select

        backend = getattr(study._storage, "_backend", study._storage)
        self.engine = backend.engine
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.sid = study._study_id
        self.m = m
        T, P, V = m.TrialModel.__table__, m.TrialParamModel.__table__, m.TrialValueModel.__table__
        UA, SA = m.TrialUserAttributeModel.__table__, m.TrialSystemAttributeModel.__table__
        SSA, S = m.StudySystemAttributeModel.__table__, m.StudyModel.__table__
        self.T, self.P, self.V, self.UA, self.SA = T, P, V, UA, SA
        ids = bindparam("ids", expanding=True)
        self.q_lock = select(S.c.study_id).where(S.c.study_id == self.sid).with_for_update()
        self.q_trials = select(T.c.trial_id, T.c.number, T.c.state, T.c.datetime_start).where(
            T.c.study_id == self.sid, or_(T.c.trial_id > bindparam("max_id"), T.c.trial_id.in_(ids)))
        self.q_params = select(P.c.trial_id, P.c.param_name, P.c.param_value).where(P.c.trial_id.in_(ids))
        self.q_values = select(V.c.trial_id, V.c.objective, V.c.value, V.c.value_type).where(V.c.trial_id.in_(ids))
        self.q_sattrs = select(SA.c.trial_id, SA.c.key, SA.c.value_json).where(
            SA.c.trial_id.in_(ids), SA.c.key.in_([OWNER, VOID, CONSTRAINTS, FIXED]))
        self.q_attr = select(UA.c.value_json).where(UA.c.trial_id == bindparam("tid"), UA.c.key == ATTR)
        self.q_beats = select(SSA.c.key, SSA.c.value_json).where(
            SSA.c.study_id == self.sid, or_(SSA.c.key.like(HEARTBEAT_KEY + "%"), SSA.c.key.like(ASKING_KEY + "%")))
        self.q_owner = select(SA.c.value_json).where(SA.c.trial_id == bindparam("tid"), SA.c.key == OWNER)
        self.u_finish = T.update().where(T.c.trial_id == bindparam("b_tid"), T.c.state == TrialState.RUNNING).values(
            state=bindparam("b_state"), datetime_complete=bindparam("b_now"))
        self.u_claim = T.update().where(T.c.trial_id == bindparam("b_tid"), T.c.state == bindparam("b_from")).values(
            state=TrialState.RUNNING, datetime_start=bindparam("b_now"))
        self.d_uattr = UA.delete().where(UA.c.trial_id == bindparam("b_tid"), UA.c.key == bindparam("b_key"))
        self.d_sattr = SA.delete().where(SA.c.trial_id == bindparam("b_tid"), SA.c.key == bindparam("b_key"))
        self.dist_json = {n: optuna.distributions.distribution_to_json(d) for n, d in self.dists.items()}
        self.max_id = -1

    # -- one transaction, retried on lock timeouts, deadlocks and serialization failures -------
    def _transaction(self, body: Callable[[Any], Any]) -> Any:
        from sqlalchemy.exc import DBAPIError

        for attempt in range(30):
            try:
                with self.engine.begin() as conn:
                    if not self.sqlite:
                        conn.execute(self.q_lock)
                    return body(conn)
            except BaseException as exc:
                self.ledger.reset()  # the rolled-back writes may have reached the ledger: read it all again
                self.max_id = -1
                text = str(getattr(exc, "orig", "")).lower()
                transient = isinstance(exc, DBAPIError) and (exc.connection_invalidated or any(
                    s in text for s in ("locked", "busy", "deadlock", "could not serialize", "timeout")))
                if not transient or attempt == 29:
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 5)) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _sync(self, conn) -> None:
        led = self.ledger
        recheck = [i for i in led.unfinished if i not in self.mine]
        rows = conn.execute(self.q_trials, {"max_id": self.max_id, "ids": recheck}).all()
        if not rows:
            return
        self.max_id = max(self.max_id, max(r.trial_id for r in rows))
        todo = []
        for r in rows:
            known = led.trials.get(r.trial_id)
            if r.trial_id in self.mine:
                if known is None:  # after a reset: this driver's own running trial
                    res = self.mine[r.trial_id]
                    led.see(TrialInfo(r.trial_id, r.number, TrialState.RUNNING, res.arch, self.worker))
                continue
            if known is not None and known.state.is_finished():
                continue  # unfinished ones are read again: their driver may have changed (taken over, named)
            todo.append(r)
        if not todo:
            return
        ids = [r.trial_id for r in todo]
        # params of new trials, and of those seen before all were written (another driver inside study.ask)
        fresh = [r.trial_id for r in todo if r.trial_id not in led.trials or led.trials[r.trial_id].arch is None]
        params: dict[int, dict[str, float]] = {}
        if fresh:
            for tid, name, value in conn.execute(self.q_params, {"ids": fresh}):
                params.setdefault(tid, {})[name] = value
        values: dict[int, dict[int, float]] = {}
        done = [r.trial_id for r in todo if r.state == TrialState.COMPLETE]
        if done:
            to_value = self.m.TrialValueModel.stored_repr_to_value
            for tid, obj, value, vtype in conn.execute(self.q_values, {"ids": done}):
                values.setdefault(tid, {})[obj] = to_value(value, vtype)
        sattrs: dict[int, dict[str, Any]] = {}
        for tid, key, value in conn.execute(self.q_sattrs, {"ids": ids}):
            sattrs.setdefault(tid, {})[key] = json.loads(value)
        for r in sorted(todo, key=lambda r: r.number):
            attrs = sattrs.get(r.trial_id, {})
            if r.trial_id in led.trials and led.trials[r.trial_id].arch is not None:
                arch = led.trials[r.trial_id].arch
            elif r.state == TrialState.WAITING:
                arch = self._arch(attrs.get(FIXED) or {})
            else:
                p = params.get(r.trial_id, {})
                arch = self._arch({k: int(v) for k, v in p.items()})
            vals = values.get(r.trial_id)
            vals = tuple(vals[i] for i in range(len(vals))) if vals else None
            led.see(TrialInfo(r.trial_id, r.number, r.state, arch, attrs.get(OWNER), VOID in attrs,
                              r.datetime_start), vals, attrs.get(CONSTRAINTS))

    def _set_attr(self, conn, table, delete, trial_id: int, key: str, value: Any, replace: bool) -> None:
        if replace:
            conn.execute(delete, {"b_tid": trial_id, "b_key": key})
        conn.execute(table.insert(), {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)})

    def _write_finish(self, conn, f: Finish, now: datetime) -> None:
        r = f.reservation
        hit = conn.execute(self.u_finish, {"b_tid": r.trial_id, "b_state": f.state, "b_now": now}).rowcount
        led = self.ledger
        if hit != 1:  # finished meanwhile by a driver that took it over: its result stands
            led.trials.pop(r.trial_id, None)
            led.unfinished.pop(r.trial_id, None)
            return
        attrs = f.attrs
        if f.copy_from is not None:
            row = conn.execute(self.q_attr, {"tid": f.copy_from}).first()
            attrs = {**(json.loads(row[0]) if row else {}), **attrs}
        if f.state == TrialState.COMPLETE:
            to_stored = self.m.TrialValueModel.value_to_stored_repr
            rows = []
            for i, v in enumerate(f.values):
                stored, vtype = to_stored(float(v))
                rows.append({"trial_id": r.trial_id, "objective": i, "value": stored, "value_type": vtype})
            conn.execute(self.V.insert(), rows)
        self._set_attr(conn, self.UA, self.d_uattr, r.trial_id, ATTR, attrs, r.taken_over)
        if f.constraints:
            self._set_attr(conn, self.SA, self.d_sattr, r.trial_id, CONSTRAINTS, list(f.constraints), r.taken_over)
        led.see(TrialInfo(r.trial_id, r.number, f.state, r.arch, self.worker), f.values, f.constraints)

    def _void(self, conn, t: TrialInfo, reason: str, now: datetime) -> None:
        conn.execute(self.T.update().where(self.T.c.trial_id == t.trial_id, self.T.c.state == t.state).values(
            state=TrialState.FAIL, datetime_complete=now))
        self._set_attr(conn, self.SA, self.d_sattr, t.trial_id, VOID, reason, True)
        self.ledger.see(TrialInfo(t.trial_id, t.number, TrialState.FAIL, t.arch, t.owner, True))

    def _take_over(self, conn, t: TrialInfo, now: datetime) -> Reservation | None:
        if t.state == TrialState.RUNNING and t.owner is None:
            if conn.execute(self.q_owner, {"tid": t.trial_id}).first() is not None:
                return None  # its driver (inside study.ask) recorded itself after all: alive
        if t.void:  # its driver died while giving it up: finish that
            self._void(conn, t, "interrupted before the evaluation was recorded", now)
            return None
        if t.arch is None:
            why = ("enqueued trial does not name a whole architecture" if t.state == TrialState.WAITING
                   else "driver died before the architecture was chosen")
            self._void(conn, t, why, now)
            return None
        if conn.execute(self.u_claim, {"b_tid": t.trial_id, "b_from": t.state, "b_now": now}).rowcount != 1:
            return None
        if t.state == TrialState.WAITING:
            conn.execute(self.P.insert(), self._param_rows(t.trial_id, t.arch))
        self._set_attr(conn, self.SA, self.d_sattr, t.trial_id, OWNER, self.worker, True)
        return Reservation(t.trial_id, t.number, t.arch, taken_over=True)

    def _param_rows(self, trial_id: int, arch: Arch) -> list[dict]:
        return [{"trial_id": trial_id, "param_name": n, "param_value": float(v), "distribution_json": self.dist_json[n]}
                for n, v in zip(self.space.param_names, arch.ops)]

    def _step(self, conn, finished: Sequence[Finish], want: int, propose: Propose) -> list[Reservation]:
        now = datetime.now()
        for f in finished:
            self._write_finish(conn, f, now)
        self._sync(conn)
        led = self.ledger
        out: list[Reservation] = []
        if want <= 0:
            return out
        beats = lambda: {k: json.loads(v) for k, v in conn.execute(self.q_beats)}  # noqa: E731
        for t in led.stale(self.worker, beats):
            if len(out) >= want:
                break
            r = self._take_over(conn, t, now)
            if r is not None:
                out.append(r)
                led.see(TrialInfo(r.trial_id, r.number, TrialState.RUNNING, r.arch, self.worker))
        while len(out) < want and led.counting < self.budget and self.stop is None:
            arch = self._propose(propose)
            if arch is None:
                break
            number = len(led.trials)  # Optuna's numbering: trials of the study created before this one
            tid = conn.execute(self.T.insert(), {"number": number, "study_id": self.sid, "state": TrialState.RUNNING,
                                                 "datetime_start": now}).inserted_primary_key[0]
            conn.execute(self.P.insert(), self._param_rows(tid, arch))
            conn.execute(self.SA.insert(), {"trial_id": tid, "key": OWNER, "value_json": json.dumps(self.worker)})
            out.append(Reservation(tid, number, arch))
            led.see(TrialInfo(tid, number, TrialState.RUNNING, arch, self.worker, started=now))
        return out

    def step(self, finished: Sequence[Finish], want: int, propose: Propose) -> list[Reservation]:
        out = self._transaction(lambda conn: self._step(conn, finished, want, propose))
        for f in finished:
            self.mine.pop(f.reservation.trial_id, None)
        for r in out:
            self.mine[r.trial_id] = r
        return out

    def give_up(self, reservations: Sequence[Reservation], reason: str) -> None:
        def body(conn) -> None:
            now = datetime.now()
            for r in reservations:
                self.mine.pop(r.trial_id, None)
                self._void(conn, TrialInfo(r.trial_id, r.number, TrialState.RUNNING, r.arch, self.worker), reason, now)

        if reservations:
            self._transaction(body)

    def attrs_of(self, trial_id: int) -> dict:
        row = self._transaction(lambda conn: conn.execute(self.q_attr, {"tid": trial_id}).first())
        return json.loads(row[0]) if row else {}
