"""Progressive search in the manner of PNAS (Liu et al., ECCV 2018): cells grow one active op at a
time, and a surrogate picks which expansions are worth a query."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, register_strategy
from archscout.strategies._history import History
from archscout.strategies._predictor import ENCODINGS, MLPEnsemble, arch_features, regression_targets
from archscout.strategies._random import sample_new


def empty_op(space: SearchSpace) -> int:
    """The op index that makes a position inactive: NB201's ``none``, FBNet's ``skip``, else 0."""
    names = getattr(space, "ops_names", None)
    if names and "none" in names:
        return list(names).index("none")
    if space.name == "fbnet":
        from archscout.spaces._fbnet import SKIP_OP

        return SKIP_OP
    return 0


@register_strategy("pnas")
class ProgressiveSampler(ArchSampler):
    """PNAS's progressive SMBO with active positions as blocks.

    Mapping: a PNAS cell of b blocks is an arch with b *active* positions, i.e. positions whose op
    is not the space's empty op (``empty_op``): on NB201, b edges carry an op other than ``none``,
    b = 1..6. A PNAS block adds a node with two inputs and two ops; an NB201 edge adds one input
    and one op, the nearest unit a fixed DAG has. Level 1 is every arch with one active position
    (on NB201 9 isomorphism classes; PNAS also trains every 1-block cell). Growing an arch turns
    one inactive position active with any op; on NB201 a new edge that changes nothing (into or
    out of an unused node) is grown once more, so each candidate computes something new. For each
    next level the ``k`` best evaluated archs of the last level are grown, an ensemble of
    ``n_members`` small MLPs (``_predictor.MLPEnsemble`` over ``encoding`` features; PNAS: 5
    predictors on 4/5 of the data each) is refitted on every evaluated arch, and the ``k``
    candidates with the best predicted score are queried. Archs isomorphic to a taken one (spaces
    with ``canonical``) are skipped, as PNAS canonicalizes cells.

    When nothing is left to grow (all positions active) the search never stalls: it goes on with
    local refinement, the untaken neighbour of the ``n_parents`` best archs with the best ensemble
    mean + spread (refitted every ``refit_every`` queries), and a random new arch when none is
    left. On NB201 with ``k=20`` the progression takes about 70 queries.
    """

    def __init__(self, space: SearchSpace, seed: int | None = None, k: int = 20, n_members: int = 5,
                 hidden: int = 32, encoding: str = "both", n_parents: int = 5, refit_every: int = 5,
                 fit_steps: int = 300, warm_steps: int = 40, empty: int | None = None):
        if k < 1 or n_members < 1 or n_parents < 1 or refit_every < 1:
            raise ArchscoutError("pnas: k, n_members, n_parents and refit_every must be at least 1")
        if encoding not in ENCODINGS:
            raise ArchscoutError(f"pnas: encoding {encoding!r}; accepted: {', '.join(ENCODINGS)}")
        super().__init__(space, seed)
        self.k, self.n_members, self.hidden, self.encoding = k, n_members, hidden, encoding
        self.n_parents, self.refit_every = n_parents, refit_every
        self.fit_steps, self.warm_steps = fit_steps, warm_steps
        self.empty = empty_op(space) if empty is None else empty
        if not all(0 <= self.empty < c for c in space.choices):
            raise ArchscoutError(f"pnas: empty op {self.empty} is not a choice of every position")
        self._canonical = getattr(space, "canonical", None)
        self.level = 0  # the level whose queue is being queried (0 = not started)
        self.done = False  # progression over: local refinement
        self._queue: list[Arch] = []
        self._level_archs: list[Arch] = []  # the current level's queue as built
        self._model: MLPEnsemble | None = None
        self._fitted_at = -1

    def active(self, arch: Arch) -> int:
        """Number of active positions (PNAS's blocks)."""
        return sum(o != self.empty for o in arch.ops)

    def expansions(self, arch: Arch) -> list[Arch]:
        """Archs with one more active position than ``arch``, the rest unchanged."""
        out = []
        for pos, (o, n) in enumerate(zip(arch.ops, self.space.choices)):
            if o == self.empty:
                for new in range(n):
                    if new != self.empty:
                        ops = arch.ops[:pos] + (new,) + arch.ops[pos + 1:]
                        if self.space.is_valid(ops):
                            out.append(Arch(self.space.name, ops))
        return out

    def _distinct(self, archs: Sequence[Arch], taken) -> list[Arch]:
        """Untaken archs, one per isomorphism class, none isomorphic to a taken arch."""
        seen = {self._canonical(a) for a in taken} if self._canonical else set()
        out = []
        for a in dict.fromkeys(archs):
            if a in taken:
                continue
            if self._canonical:
                key = self._canonical(a)
                if key in seen:
                    continue
                seen.add(key)
            out.append(a)
        return out

    def _fit(self, history: History, force: bool = False) -> MLPEnsemble:
        scores = history.scores()
        n = len(scores)
        if self._model is None or force or n - self._fitted_at >= self.refit_every or n < self._fitted_at:
            archs, y = regression_targets(history, scores)
            x = arch_features(self.space, archs, self.encoding)
            first = self._model is None
            if first:
                self._model = MLPEnsemble(x.shape[1], self._rng, self.n_members, self.hidden)
            self._model.fit(x, y, self.fit_steps if first else self.warm_steps, self._rng)
            self._fitted_at = n
        return self._model

    def _ranked(self, history: History, cands: list[Arch], spread: float) -> list[Arch]:
        """Candidates by predicted score (+ ``spread`` x ensemble std), best first."""
        pred = self._fit(history).predict(arch_features(self.space, cands, self.encoding))
        value = pred.mean(axis=0) + spread * pred.std(axis=0)
        return [cands[i] for i in np.argsort(-value, kind="stable")]

    def grow(self, arch: Arch) -> list[Arch]:
        """The expansions of an arch; one that only adds dead ops (isomorphic to ``arch``: a
        dangling NB201 edge) is expanded further, so every candidate computes something new."""
        if not self._canonical:
            return self.expansions(arch)
        own, out, seen = self._canonical(arch), [], set()
        todo = self.expansions(arch)
        while todo:
            c = todo.pop(0)
            if c in seen:
                continue
            seen.add(c)
            if self._canonical(c) == own:
                todo.extend(self.expansions(c))
            else:
                out.append(c)
        return out

    def _next_level(self, history: History, taken) -> list[Arch]:
        """The next level's queue: level 1 whole, later the surrogate's top ``k`` expansions of the
        ``k`` best archs of the last level; empty when nothing is left to grow."""
        self.level += 1
        if self.level == 1:
            base = Arch(self.space.name, (self.empty,) * len(self.space.choices))
            return self._distinct(self.expansions(base), taken) if self.space.is_valid(base.ops) else []
        scores = history.scores()
        last = [a for a in self._level_archs if a in scores] or list(scores)
        frontier = sorted(last, key=scores.__getitem__, reverse=True)[:self.k]
        cands = self._distinct([c for a in frontier for c in self.grow(a)], taken)
        if not cands:
            return []
        self._fit(history, force=True)
        return self._ranked(history, cands, 0.0)[:self.k]

    def propose(self, history: History) -> Arch:
        history.scores()  # checks there is one objective
        taken = history.taken
        while not self.done:
            self._queue = [a for a in self._queue if a not in taken]
            if self._queue:
                return self._queue.pop(0)
            self._queue = self._next_level(history, taken)
            self._level_archs = list(self._queue)
            self.done = not self._queue
        scores = history.scores()  # progression over: local refinement around the best archs
        if scores:
            best = sorted(scores, key=scores.__getitem__, reverse=True)[:self.n_parents]
            cands = list(dict.fromkeys(n for a in best for n in self.space.neighbours(a) if n not in taken))
            if cands:
                return self._ranked(history, cands, 1.0)[0]
        return sample_new(self.space, self._rng, taken)
