"""FOX-NAS's search (Liu et al., ICCVW 2021), adapted to categorical spaces: an ordinary-least-squares
predictor with interaction features, maximized by simulated annealing."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from archscout.exceptions import ArchscoutError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, register_strategy
from archscout.strategies._history import History
from archscout.strategies._predictor import regression_targets
from archscout.strategies._random import sample_new

ACCEPT_RULES = ("threshold", "metropolis")


class InteractionFeatures:
    """A configurable feature map over op vectors: intercept, main effects and pair interactions.

    Columns: ``1`` (intercept), then one indicator per (position, op) (the space's one-hot), then
    for every pair of positions in ``pairs`` one indicator per (op at i, op at j): the categorical
    analogue of FOX-NAS's products of stage features. ``pairs="all"`` takes every pair of
    positions, ``()`` none (main effects only). Because each feature is an indicator, a linear
    model over it is a table lookup, which ``lookup`` uses to predict many archs at once.
    """

    def __init__(self, choices: Sequence[int], pairs: str | Sequence[tuple[int, int]] = "all"):
        self.choices = tuple(int(c) for c in choices)
        n = len(self.choices)
        pairs = list(itertools.combinations(range(n), 2)) if pairs == "all" else [tuple(p) for p in pairs]
        for i, j in pairs:
            if not (0 <= i < n and 0 <= j < n and i != j):
                raise ArchscoutError(f"foxnas: interaction pair {(i, j)} is not two distinct positions of 0..{n - 1}")
        self.pairs = pairs
        self._pi = np.array([p[0] for p in pairs], dtype=np.int64)
        self._pj = np.array([p[1] for p in pairs], dtype=np.int64)
        self._pn = np.array([self.choices[j] for _, j in pairs], dtype=np.int64)
        self._main_off = 1 + np.concatenate([[0], np.cumsum(self.choices)[:-1]]).astype(np.int64)
        sizes = [self.choices[i] * self.choices[j] for i, j in pairs]
        start = 1 + sum(self.choices)
        self._pair_off = start + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.n_features = start + sum(sizes)

    def columns(self, ops: np.ndarray) -> np.ndarray:
        """(n, 1 + positions + pairs) indices of the non-zero features of each op row (intercept first)."""
        ops = np.asarray(ops, dtype=np.int64).reshape(len(ops), -1)
        cols = [np.zeros((len(ops), 1), np.int64), self._main_off + ops]
        if self.pairs:
            cols.append(self._pair_off + ops[:, self._pi] * self._pn + ops[:, self._pj])
        return np.concatenate(cols, axis=1)

    def __call__(self, ops: np.ndarray) -> np.ndarray:
        """The dense (n, n_features) 0/1 design matrix of op rows."""
        cols = self.columns(ops)
        x = np.zeros((len(cols), self.n_features))
        np.put_along_axis(x, cols, 1.0, axis=1)
        return x

    def lookup(self, coef: np.ndarray, ops: np.ndarray) -> np.ndarray:
        """Predictions ``x @ coef`` of op rows without building x."""
        return coef[self.columns(ops)].sum(axis=1)


def least_squares(features: InteractionFeatures, ops: np.ndarray, y: np.ndarray, ridge: float = 0.0,
                  start: np.ndarray | None = None, tol: float = 1e-8) -> np.ndarray:
    """Coefficients minimizing |X c - y|^2 + ridge |c|^2 over the indicator design X of ``ops``.

    Solved by conjugate gradients on the normal equations with X kept sparse (each row is a short
    list of column indices): no dense factorization, whose threaded LAPACK is slow on a busy
    machine, and a warm ``start`` from the last fit converges in a few iterations. With
    ``ridge=0`` from zero this is ordinary least squares, the minimum-norm solution when the design
    is rank-deficient (indicator features with an intercept always are).
    """
    cols = features.columns(ops)
    p, k = features.n_features, cols.shape[1]
    flat = cols.ravel()

    def normal(v: np.ndarray) -> np.ndarray:  # (X^T X + ridge I) v
        return np.bincount(flat, weights=np.repeat(v[cols].sum(axis=1), k), minlength=p) + ridge * v

    y = np.asarray(y, dtype=np.float64)
    rhs = np.bincount(flat, weights=np.repeat(y, k), minlength=p)
    c = np.zeros(p) if start is None or len(start) != p else np.array(start, dtype=np.float64)
    r = rhs - normal(c)
    d = r.copy()
    rr = float(r @ r)
    stop = tol * tol * max(float(rhs @ rhs), 1e-300)
    for _ in range(2 * p):
        if rr <= stop:
            break
        q = normal(d)
        alpha = rr / float(d @ q)
        c += alpha * d
        r -= alpha * q
        rr, rr_old = float(r @ r), rr
        d = r + (rr / rr_old) * d
    return c


@register_strategy("foxnas")
class FoxNASSampler(ArchSampler):
    """Linear predictor + simulated annealing, one annealing run per ``batch`` queries.

    After ``n_init`` random archs, a least-squares model with intercept is fitted on the evaluated
    archs' ``InteractionFeatures`` (``pairs`` of positions interact; all by default) and scores.
    ``n_chains`` annealing chains (FOX-NAS's restarts, run side by side) start at random archs,
    ``elite`` of them at the best evaluated archs. Each iteration changes ``step`` random positions
    of every chain to other ops (``step`` falls by one every ``step_every`` iterations down to 1,
    like FOX-NAS's 8 -> 5 coordinates). Acceptance, by default FOX-NAS's threshold rule: accept when
    the prediction improves, and after more than ``patience`` consecutive rejections also when it
    drops by less than ``tolerance`` (in standard deviations of the scores); ``accept="metropolis"``
    accepts with probability exp(delta / T), T = ``t0 * cooling**iteration``. A chain stops after
    ``max_reject`` consecutive rejections, all stop after ``max_iter`` iterations. The ``batch``
    best distinct untaken archs visited (FOX-NAS keeps its top 5) are proposed over the next calls,
    then the model is refitted.

    Adaptations to categorical spaces and to a study: coordinates are op choices (a move is any
    other op, not index +-1); the interactions are pair indicators instead of products of numeric
    stage features (406 features on NB201, more than the archs a search evaluates, so the fit has a
    ``ridge`` penalty; ``ridge=0`` is plain OLS, the minimum-norm solution: on NB201 CIFAR-100 with
    100-200 random archs, Spearman of predicted vs true 0.61/0.57 at ridge 0, 0.70/0.79 at ridge
    10); archs already in the search are never accepted; a study's constraints are not predicted
    (the History holds only their violation), so an infeasible arch just scores below every
    feasible one in the fit; iteration counts are scaled down from FOX-NAS's (10,000 / 5,000 / 500)
    to NB201-sized spaces; the elite starts are ours (a small gain in regret on NB201).
    """

    def __init__(self, space: SearchSpace, seed: int | None = None, n_init: int = 10,
                 pairs: str | Sequence[tuple[int, int]] = "all", accept: str = "threshold",
                 n_chains: int = 16, max_iter: int = 100, max_reject: int = 30, patience: int = 10,
                 tolerance: float = 0.1, t0: float = 0.2, cooling: float = 0.97, step: int = 2,
                 step_every: int = 35, batch: int = 5, ridge: float = 10.0, elite: int = 4):
        if accept not in ACCEPT_RULES:
            raise ArchscoutError(f"foxnas: accept {accept!r}; accepted: {', '.join(ACCEPT_RULES)}")
        counts = (n_init, n_chains, max_iter, max_reject, step, step_every, batch)
        if min(counts) < 1 or min(patience, ridge, elite) < 0:
            raise ArchscoutError("foxnas: n_init, n_chains, max_iter, max_reject, step, step_every and batch "
                                 "must be at least 1; patience, ridge and elite at least 0")
        super().__init__(space, seed)
        self.features = InteractionFeatures(space.choices, pairs)
        self.n_init, self.accept = n_init, accept
        self.n_chains, self.max_iter, self.max_reject, self.patience = n_chains, max_iter, max_reject, patience
        self.tolerance, self.t0, self.cooling = tolerance, t0, cooling
        self.step, self.step_every, self.batch = min(step, len(space.choices)), step_every, batch
        self.ridge, self.elite = ridge, elite
        self._queue: list[Arch] = []
        self._coef: np.ndarray | None = None  # last fit (centred targets): the next fit's warm start

    def fit(self, history: History) -> tuple[np.ndarray, float]:
        """Least-squares coefficients over ``self.features`` of the evaluated archs, and the scores' std."""
        archs, y = regression_targets(history, history.scores())
        mean = float(y.mean())
        coef = least_squares(self.features, np.array([a.ops for a in archs]), y - mean, self.ridge, self._coef)
        self._coef = coef.copy()
        coef[0] += mean
        return coef, float(y.std()) or 1.0

    def anneal(self, coef: np.ndarray, scale: float, taken, top: int | None = None,
               starts: Sequence[Arch] = ()) -> list[tuple[float, Arch]]:
        """(predicted score, arch) of the ``top`` best distinct untaken archs the chains visited, best
        first; chains start at ``starts`` (taken archs allowed), the others at random untaken archs."""
        rng, space, n_pos = self._rng, self.space, len(self.space.choices)
        choices = np.array(space.choices, dtype=np.int64)
        plain = type(space).is_valid is SearchSpace.is_valid  # no constraints between positions
        if math.prod(space.choices) < 2**62:
            # archs as integers (mixed radix): the taken test is one vectorized lookup per iteration
            radix = np.concatenate([np.cumprod(choices[::-1])[::-1][1:], [1]]).astype(np.int64)
            taken_codes = np.array(sorted(int(np.dot(a.ops, radix)) for a in taken), dtype=np.int64)

            def keys(ops: np.ndarray) -> list:
                return (ops @ radix).tolist()

            def untaken(ops: np.ndarray) -> np.ndarray:
                if not len(taken_codes):
                    return np.ones(len(ops), dtype=bool)
                codes = ops @ radix
                return taken_codes[np.minimum(np.searchsorted(taken_codes, codes), len(taken_codes) - 1)] != codes
        else:  # too many archs for int64 codes (e.g. FBNet's 9**22): tuples

            def keys(ops: np.ndarray) -> list:
                return [tuple(r) for r in ops.tolist()]

            def untaken(ops: np.ndarray) -> np.ndarray:
                return np.array([Arch(space.name, k) not in taken for k in keys(ops)], dtype=bool)

        def fresh(ops: np.ndarray) -> np.ndarray:
            ok = untaken(ops)
            if not plain:
                ok &= np.array([space.is_valid(tuple(r)) for r in ops.tolist()], dtype=bool)
            return ok

        starts = list(starts)[:self.n_chains]
        state = np.array([a.ops for a in starts] + [sample_new(space, rng, taken).ops
                                                    for _ in range(self.n_chains - len(starts))], dtype=np.int64)
        value = self.features.lookup(coef, state)
        found: dict = {}
        for k, v, r in zip(keys(state[len(starts):]), value[len(starts):], state[len(starts):]):
            found[k] = (v, r)
        rejects = np.zeros(self.n_chains, dtype=np.int64)
        live = np.ones(self.n_chains, dtype=bool)
        rows = np.arange(self.n_chains)
        for it in range(self.max_iter):
            if not live.any():
                break
            step = max(1, self.step - it // self.step_every)
            prop = state.copy()
            for _ in range(step):
                pos = rng.integers(n_pos, size=self.n_chains)
                k = choices[pos]
                prop[rows, pos] = (prop[rows, pos] + 1 + rng.integers(np.maximum(k - 1, 1))) % k
            pv = self.features.lookup(coef, prop)
            ok = fresh(prop) & live
            delta = (pv - value) / scale
            if self.accept == "threshold":
                acc = (delta > 0) | ((rejects > self.patience) & (delta > -self.tolerance))
            else:
                temp = self.t0 * self.cooling**it
                acc = (delta > 0) | (rng.random(self.n_chains) < np.exp(np.minimum(delta, 0) / temp))
            acc &= ok
            for k, v, r in zip(keys(prop[ok]), pv[ok], prop[ok]):
                found[k] = (v, r)
            state[acc], value[acc] = prop[acc], pv[acc]
            rejects = np.where(acc, 0, rejects + 1)
            live &= rejects < self.max_reject
        best = sorted(found.values(), key=lambda t: -t[0])[:top]
        return [(float(v), Arch(space.name, tuple(int(o) for o in r))) for v, r in best]

    def propose(self, history: History) -> Arch:
        scores, taken = history.scores(), history.taken
        if len(scores) < self.n_init:
            return sample_new(self.space, self._rng, taken)
        self._queue = [a for a in self._queue if a not in taken]
        if not self._queue:
            coef, scale = self.fit(history)
            best = sorted(scores, key=scores.__getitem__, reverse=True)[:self.elite]
            self._queue = [a for _, a in self.anneal(coef, scale, taken, self.batch, best)]
            if not self._queue:
                return sample_new(self.space, self._rng, taken)
        return self._queue.pop(0)
