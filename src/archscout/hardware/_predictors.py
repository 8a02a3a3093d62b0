"""Latency predictors for NB201 fitted on (archs, latencies) measured on one device.

Every predictor has ``fit(archs, y)`` / ``predict(archs)``; archs are anything the NB201 space
parses (Arch, string, index, op list) or an ``(n, 6)`` int array of op ids. NaN latencies (no
measurement, e.g. Edge TPU's -1) are dropped at fit time, never used as a latency.

* ``linear``   : plain least squares on one-hot (edge, op) features (the reference); ridge when the
                 training archs do not determine its 25 parameters (fewer than 26).
* ``additive`` : a per-(edge, op) lookup table + intercept (``table``, ``intercept``) by non-negative
                 or ridge least squares; ``table[e, 0]`` (op ``none``) is the 0 reference of each edge.
* ``gbm``      : ridge + gradient boosting on its residuals, with one-hot, op-count and pairwise
                 edge-interaction features (non-linear); the ridge stage alone under 26 archs.
* ``structure``: ridge on one-hot plus cell-structure features (shared ReLUs, adds per node).
* ``flops``    : baseline latency ~ a * FLOPs + b.
* ``fewshot``  : transfer from other devices with known latencies for all archs: a blend of ridge fits
                 of the target's log latency on the known devices' log latencies, counts of the ops
                 whose output is used, cell-structure features and log FLOPs, weighted on
                 leave-one-out predictions of the training archs.
* ``stacked``  : a non-negative blend of the others, weighted by out-of-fold predictions (5 folds).

Every predictor fits from a handful of archs (``min_train``: 5; ``flops`` 2, ``stacked`` 10).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.spaces._nb201 import NB201_EDGES

N_EDGES, N_OPS = 6, 5
_PAIRS = [(i, j) for i in range(N_EDGES) for j in range(i + 1, N_EDGES)]
_TARGET, _SOURCE = np.array(NB201_EDGES).T  # edge k reads node _SOURCE[k] and adds into node _TARGET[k]


# -- features -----------------------------------------------------------------------------------
def as_ops(archs: Any) -> np.ndarray:
    """``(n, 6)`` int op ids of NB201 archs (an int array of that shape passes through)."""
    arr = np.asarray(archs) if not isinstance(archs, (list, tuple)) or _all_rows(archs) else None
    if arr is not None and arr.ndim == 2 and arr.shape[1] == N_EDGES and np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    from archscout.spaces import get_space
    space = get_space("nb201")
    return np.array([space.parse(a).ops for a in archs], dtype=np.int64).reshape(-1, N_EDGES)


def _all_rows(archs) -> bool:
    return all(isinstance(a, (list, tuple, np.ndarray)) and len(a) == N_EDGES
               and all(isinstance(o, (int, np.integer)) for o in a) for a in archs)


def as_indices(archs: Any) -> np.ndarray:
    """NB201 indices of archs (op-id rows or anything the space parses)."""
    from archscout.spaces import get_space
    space = get_space("nb201")
    ops = as_ops(archs)
    from archscout.spaces._nb201 import _POW5
    return space._inv_perm[ops @ _POW5]


def one_hot(ops: np.ndarray) -> np.ndarray:
    """``(n, 30)`` one-hot of (edge, op), column ``e * 5 + op``."""
    ops = np.asarray(ops, dtype=np.int64)
    out = np.zeros((len(ops), N_EDGES * N_OPS))
    out[np.arange(len(ops))[:, None], np.arange(N_EDGES) * N_OPS + ops] = 1.0
    return out


def effective_ops(ops: np.ndarray) -> np.ndarray:
    """Op ids with every edge that lies on no input-to-output path of non-``none`` edges set to
    ``none`` (0): the ops that can affect the output."""
    ops = np.asarray(ops, dtype=np.int64)
    live, n = ops != 0, len(ops)
    fwd = np.zeros((n, 4), bool)
    fwd[:, 0] = True
    for k, (d, s) in enumerate(NB201_EDGES):
        fwd[:, d] |= fwd[:, s] & live[:, k]
    bwd = np.zeros((n, 4), bool)
    bwd[:, 3] = True
    for k, (d, s) in reversed(list(enumerate(NB201_EDGES))):
        bwd[:, s] |= bwd[:, d] & live[:, k]
    eff = ops.copy()
    for k, (d, s) in enumerate(NB201_EDGES):
        eff[~(fwd[:, s] & bwd[:, d]), k] = 0
    return eff


def used_ops(ops: np.ndarray) -> np.ndarray:
    """Op ids with every edge whose output reaches the cell output through no non-``none`` path set to
    ``none``: what a compiler that drops unused results still runs (an edge fed only zeros still runs)."""
    ops = np.asarray(ops, dtype=np.int64)
    live = ops != 0
    bwd = np.zeros((len(ops), 4), bool)
    bwd[:, 3] = True
    for k, (d, s) in reversed(list(enumerate(NB201_EDGES))):
        bwd[:, s] |= bwd[:, d] & live[:, k]
    out = ops.copy()
    out[~bwd[:, _TARGET]] = 0
    return out


def op_counts(ops: np.ndarray) -> np.ndarray:
    """``(n, 4)`` counts of the used ops (``used_ops``) per kind: skip, conv 1x1, conv 3x3, pooling."""
    used = used_ops(ops)
    return np.stack([(used == o).sum(1) for o in range(1, N_OPS)], axis=1).astype(float)


def _interactions(ops: np.ndarray) -> np.ndarray:
    """Op counts (5) and pairwise edge interactions: one-hot of (edge pair, op pair), 15 * 25."""
    n = len(ops)
    counts = np.stack([(ops == o).sum(1) for o in range(N_OPS)], axis=1).astype(float)
    pair = np.zeros((n, len(_PAIRS) * N_OPS * N_OPS))
    for k, (i, j) in enumerate(_PAIRS):
        pair[np.arange(n), k * 25 + ops[:, i] * N_OPS + ops[:, j]] = 1.0
    return np.hstack([counts, pair])


def structure_features(ops: np.ndarray) -> np.ndarray:
    """What a runtime computes once per cell rather than once per edge: per source node, whether
    some edge reading it is a convolution (their ReLU is shared), a pooling, a skip or a ``none``, and
    how many convolutions read it; per inner node, its number of live inputs (one-hot: the adds)."""
    ops = np.asarray(ops, dtype=np.int64)
    cols = []
    for s in range(3):
        read = ops[:, _SOURCE == s]
        cols += [np.isin(read, group).any(1) for group in ((2, 3), (4,), (1,), (0,))]
        cols.append(np.isin(read, (2, 3)).sum(1))
    live = effective_ops(ops) != 0
    for node in (1, 2, 3):
        degree = live[:, _TARGET == node].sum(1)
        cols += [degree == d for d in range(node + 1)]
    return np.stack(cols, axis=1).astype(float)


def _nnls(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy's non-negative least squares, imported when first used (scipy takes most of a second to
    import, which every ``archscout hw`` command would otherwise pay)."""
    from scipy.optimize import nnls as scipy_nnls

    return scipy_nnls(A, b)


def _clean(archs: Any, y: Any, need: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    ops = as_ops(archs)
    y = np.asarray(y, dtype=float).ravel()
    if len(y) != len(ops):
        raise ArchscoutError(f"{name}: {len(ops)} archs but {len(y)} latencies; give one latency per arch")
    keep = np.isfinite(y)
    ops, y = ops[keep], y[keep]
    if len(y) < need:
        raise ArchscoutError(f"{name}: {len(y)} training archs with a latency; needs at least {need}")
    return ops, y


def _positive(y: np.ndarray, name: str) -> np.ndarray:
    """log(y), after checking that every latency is positive."""
    _check_positive(y, name)
    return np.log(y)


def _check_positive(y: np.ndarray, name: str) -> None:
    if np.any(y <= 0):
        raise ArchscoutError(f"{name}: latencies must be > 0 (got min {y.min():g})")


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float, weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Ridge with an unpenalized intercept (columns centered), optionally with sample weights."""
    w = np.ones(len(y)) if weight is None else weight / weight.mean()
    mx, my = w @ X / w.sum(), w @ y / w.sum()
    Xc = X - mx
    coef = np.linalg.solve(Xc.T @ (w[:, None] * Xc) + alpha * np.eye(X.shape[1]), Xc.T @ (w * (y - my)))
    return coef, float(my - mx @ coef)


def _ridge_loo(X: np.ndarray, y: np.ndarray, penalty: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Ridge with a penalty per column and an unpenalized intercept; also its leave-one-out predictions
    of the training rows (closed form: the residual over 1 - leverage)."""
    mx, my = X.mean(0), y.mean()
    Xc = X - mx
    inv = np.linalg.inv(Xc.T @ Xc + np.diag(penalty))
    coef = inv @ (Xc.T @ (y - my))
    leverage = np.einsum("ij,jk,ik->i", Xc, inv, Xc) + 1.0 / len(y)
    fitted = Xc @ coef + my
    loo = y - (y - fitted) / np.maximum(1.0 - leverage, 1e-9)
    return coef, float(my - mx @ coef), loo


class _Predictor:
    name = ""
    min_train = 2

    def _check_fitted(self) -> None:
        if not getattr(self, "_fitted", False):
            raise ArchscoutError(f"{self.name} predictor is not fitted; call fit(archs, y) first")


# -- predictors ---------------------------------------------------------------------------------
class LinearPredictor(_Predictor):
    """Plain least squares on one-hot features plus intercept, raw latency; with fewer archs than its
    25 parameters + 1, ridge (``alpha``), since least squares would only interpolate them."""

    name = "linear"
    min_train = 5
    determined = 26  # 25 free parameters (6 edges x 4 non-reference ops + intercept) + 1

    def __init__(self, alpha: float = 0.3):
        self.alpha = alpha

    def fit(self, archs: Any, y: Any) -> "LinearPredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        if len(y) >= self.determined:
            X = np.hstack([one_hot(ops), np.ones((len(y), 1))])
            self.coef_, *_ = np.linalg.lstsq(X, y, rcond=None)
            self.method_ = "least squares"
        else:
            w, b = _ridge(one_hot(ops), y, self.alpha)
            self.coef_, self.method_ = np.append(w, b), f"ridge (alpha {self.alpha:g})"
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        ops = as_ops(archs)
        return np.hstack([one_hot(ops), np.ones((len(ops), 1))]) @ self.coef_


class AdditivePredictor(_Predictor):
    """Latency = intercept + sum over edges of ``table[edge, op]``: a fitted lookup table.

    ``table[e, 0] = 0`` (op ``none``) fixes the otherwise free per-edge shift, so the table is
    identifiable. ``method="nnls"`` keeps every entry and the intercept >= 0 (a cost that can be
    used as a differentiable, non-negative expected latency); ``"ridge"`` is least squares with an
    L2 penalty ``alpha`` (0 = plain least squares).
    """

    name = "additive"
    min_train = 5  # under 26 the table is underdetermined: NNLS / ridge pick one

    def __init__(self, method: str = "nnls", alpha: float = 1e-6):
        if method not in ("nnls", "ridge"):
            raise UnknownNameError("additive fit method", method, ("nnls", "ridge"))
        self.method, self.alpha = method, alpha

    def fit(self, archs: Any, y: Any) -> "AdditivePredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        X = one_hot(ops).reshape(len(y), N_EDGES, N_OPS)[:, :, 1:].reshape(len(y), -1)
        X = np.hstack([X, np.ones((len(y), 1))])
        if self.method == "nnls":
            coef, _ = _nnls(X, y)
        else:
            reg = self.alpha * np.eye(X.shape[1])
            reg[-1, -1] = 0.0
            coef = np.linalg.lstsq(X.T @ X + reg, X.T @ y, rcond=None)[0]
        table = np.zeros((N_EDGES, N_OPS))
        table[:, 1:] = coef[:-1].reshape(N_EDGES, N_OPS - 1)
        self.table, self.intercept = table, float(coef[-1])
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        ops = as_ops(archs)
        return self.intercept + self.table[np.arange(N_EDGES), ops].sum(1)


class GBMPredictor(_Predictor):
    """Non-linear: ridge on one-hot of the raw AND the effective ops (edges on no input-output
    path count as ``none``), then gradient-boosted trees on its residuals with op counts and
    pairwise (edge, edge) op interactions. Fits latency itself (log latency ranked worse on the
    HW-NAS-Bench devices with 100 training archs). Under ``boost_from`` archs the trees would only
    learn noise: the ridge stage alone."""

    name = "gbm"
    min_train = 5
    boost_from = 26

    def __init__(self, alpha: float = 0.3, n_estimators: int = 60, learning_rate: float = 0.05,
                 max_depth: int = 2, seed: int = 0):
        self.alpha, self.n_estimators, self.lr, self.max_depth, self.seed = (
            alpha, n_estimators, learning_rate, max_depth, seed)

    @staticmethod
    def _base(ops: np.ndarray) -> np.ndarray:
        return np.hstack([one_hot(ops), one_hot(effective_ops(ops))])

    @staticmethod
    def _features(ops: np.ndarray) -> np.ndarray:
        return np.hstack([one_hot(ops), one_hot(effective_ops(ops)), _interactions(ops)])

    def fit(self, archs: Any, y: Any) -> "GBMPredictor":
        from sklearn.ensemble import GradientBoostingRegressor
        ops, y = _clean(archs, y, self.min_train, self.name)
        X1 = self._base(ops)
        self.w_, self.b_ = _ridge(X1, y, self.alpha)
        resid = y - (X1 @ self.w_ + self.b_)
        self.gbm_ = None
        if self.n_estimators > 0 and len(y) >= self.boost_from:
            self.gbm_ = GradientBoostingRegressor(
                n_estimators=self.n_estimators, learning_rate=self.lr, max_depth=self.max_depth,
                subsample=0.8, random_state=self.seed).fit(self._features(ops), resid)
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        ops = as_ops(archs)
        out = self._base(ops) @ self.w_ + self.b_
        return out if self.gbm_ is None else out + self.gbm_.predict(self._features(ops))


class StructurePredictor(_Predictor):
    """Ridge on one-hot (edge, op) features plus the cell-structure features (shared ReLUs, adds;
    ``structure_features``): latency itself, linear in what the cell computes, each arch weighted by
    1 / latency so that the fit minds relative error, as a latency budget does."""

    name = "structure"
    min_train = 5

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    @staticmethod
    def _features(ops: np.ndarray) -> np.ndarray:
        return np.hstack([one_hot(ops), structure_features(ops)])

    def fit(self, archs: Any, y: Any) -> "StructurePredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        _check_positive(y, self.name)
        weight = 1.0 / y
        self.w_, self.b_ = _ridge(self._features(ops), y, self.alpha, weight=weight)
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        return self._features(as_ops(archs)) @ self.w_ + self.b_


class FlopsPredictor(_Predictor):
    """Baseline: latency ~ a * FLOPs + b (NB201 CIFAR-10 MACs unless ``flops`` is given per index)."""

    name = "flops"
    min_train = 2

    def __init__(self, flops: np.ndarray | None = None):
        self._flops = flops

    @property
    def flops(self) -> np.ndarray:
        if self._flops is None:
            from archscout.hardware._counting import nb201_params_macs
            from archscout.spaces import get_space
            _, macs = nb201_params_macs(get_space("nb201").ops_table, num_classes=10, input_size=32)
            self._flops = np.asarray(macs, dtype=float) / 1e6
        return self._flops

    def fit(self, archs: Any, y: Any) -> "FlopsPredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        f = self.flops[as_indices(ops)]
        self.a_, self.b_ = np.polyfit(f, y, 1) if np.ptp(f) > 0 else (0.0, float(y.mean()))
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        return self.a_ * self.flops[as_indices(archs)] + self.b_


def _standardized(X: np.ndarray) -> np.ndarray:
    """Columns scaled to mean 0 and sd 1 over all archs; constant columns are dropped."""
    sd = X.std(0)
    keep = sd > 1e-12
    return (X[:, keep] - X[:, keep].mean(0)) / sd[keep]


@lru_cache(maxsize=1)
def _arch_features() -> dict[str, np.ndarray]:
    """Standardized op counts and cell-structure features of every NB201 arch (index order)."""
    from archscout.spaces import get_space

    ops = get_space("nb201").ops_table.astype(np.int64)
    out = {"ops": _standardized(op_counts(ops)), "cell": _standardized(structure_features(ops))}
    for v in out.values():
        v.flags.writeable = False
    return out


class FewShotPredictor(_Predictor):
    """Transfer from known devices (``reference``: ``(15625, k)`` latencies in NB201 index order, or a
    DataFrame indexed so; columns holding NaN or non-positive values are not used).

    Fits the target's log latency with a few ridge models (``CANDIDATES``) on the known devices' log
    latencies, the counts of the ops whose output is used (``op_counts``), the cell-structure features
    and log FLOPs, and blends them with non-negative weights fitted on their leave-one-out predictions
    of the training archs: with 20 archs it leans on the devices where the target resembles them, on
    the op counts where it does not (a compiler that drops unused ops), on FLOPs where they suffice.
    """

    name = "fewshot"
    min_train = 5
    # name: (penalty of the device columns, or None to leave them out; feature group -> scale)
    CANDIDATES: dict[str, tuple[float | None, dict[str, float]]] = {
        "devices+ops": (1.0, {"ops": 1.0}),
        "devices+ops+cell": (1.0, {"ops": 1.0, "cell": 0.5}),
        "devices": (3.0, {}),
        "devices-shrunk": (30.0, {}),
        "flops": (None, {"flops": 1.0}),
    }

    def __init__(self, reference: Any, flops: np.ndarray | None = None):
        ref = np.asarray(reference, dtype=float)
        if ref.ndim == 1:
            ref = ref[:, None]
        usable = np.all(np.isfinite(ref) & (ref > 0), axis=0)
        self.reference = _standardized(np.log(ref[:, usable]))  # constant columns tell nothing: dropped
        if not self.reference.shape[1]:
            raise ArchscoutError("fewshot: no reference device with a positive latency for every arch "
                                 "(and not the same for all)")
        self._flops = flops

    def _groups(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "_group_cache"):
            flops = np.log(np.asarray(FlopsPredictor(self._flops).flops, dtype=float))
            self._group_cache = {"devices": self.reference, **_arch_features(),
                                 "flops": _standardized(flops[:, None])}
        return self._group_cache

    def _design(self, name: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features of candidate ``name`` for the archs ``idx`` and the ridge penalty of each column."""
        groups = self._groups()
        device_penalty, extra = self.CANDIDATES[name]
        parts, penalty = [], []
        if device_penalty is not None:
            parts.append(groups["devices"][idx])
            penalty += [device_penalty] * groups["devices"].shape[1]
        for group, scale in extra.items():
            parts.append(scale * groups[group][idx])
            penalty += [1.0] * groups[group].shape[1]
        return np.hstack(parts), np.array(penalty)

    def fit(self, archs: Any, y: Any) -> "FewShotPredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        ly = _positive(y, self.name)
        idx = as_indices(ops)
        self.models_, loo = {}, []
        for name in self.CANDIDATES:
            X, penalty = self._design(name, idx)
            coef, intercept, pred = _ridge_loo(X, ly, penalty)
            self.models_[name] = (coef, intercept)
            loo.append(pred)
        w, _ = _nnls(np.stack(loo, axis=1), ly)
        w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
        self.weights = dict(zip(self.CANDIDATES, w.tolist()))
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        idx = as_indices(archs)
        out = np.zeros(len(idx))
        for name, (coef, intercept) in self.models_.items():
            if self.weights[name] > 0:
                out += self.weights[name] * (self._design(name, idx)[0] @ coef + intercept)
        return np.exp(out)


class StackedPredictor(_Predictor):
    """A blend of linear, additive, gbm, structure (and fewshot when ``reference`` is given) with non-negative
    weights fitted on 5-fold out-of-fold predictions of the training archs (stacking): it leans on
    whichever model generalizes best on this device, judged on training data only."""

    name = "stacked"
    min_train = 10  # 5 folds leave 8 archs to each member

    def __init__(self, reference: Any = None, folds: int = 5, seed: int = 0, flops: np.ndarray | None = None):
        self.reference, self.folds, self.seed, self.flops = reference, folds, seed, flops

    def _members(self) -> dict[str, _Predictor]:
        out: dict[str, _Predictor] = {"linear": LinearPredictor(), "additive": AdditivePredictor(),
                                      "gbm": GBMPredictor(), "structure": StructurePredictor()}
        if self.reference is not None:
            out["fewshot"] = FewShotPredictor(self.reference, flops=self.flops)
        return out

    def fit(self, archs: Any, y: Any) -> "StackedPredictor":
        ops, y = _clean(archs, y, self.min_train, self.name)
        fold = np.random.default_rng(self.seed).permutation(len(y)) % self.folds
        oof = np.zeros((len(y), len(self._members())))
        for f in range(self.folds):
            tr, te = fold != f, fold == f
            for k, m in enumerate(self._members().values()):
                oof[te, k] = m.fit(ops[tr], y[tr]).predict(ops[te])
        w, _ = _nnls(oof, y)
        self.weights = dict(zip(self._members(), (w / w.sum()) if w.sum() > 0 else np.full(len(w), 1 / len(w))))
        self.members_ = {n: m.fit(ops, y) for n, m in self._members().items() if self.weights[n] > 0}
        self._fitted = True
        return self

    def predict(self, archs: Any) -> np.ndarray:
        self._check_fitted()
        ops = as_ops(archs)
        return sum(self.weights[n] * m.predict(ops) for n, m in self.members_.items())


def fewshot_reference(bench: Any, column: str, among: Any = None) -> tuple[list[str], np.ndarray]:
    """The prior of few-shot for ``column`` of a cost model: the other devices' latency columns (of
    ``among``, default all) with a positive value for every arch; never the target device's own
    columns (another batch size included) nor those of a device with a column equal to the target
    (the same device under another name, e.g. imported from a shipped table)."""
    from archscout.hardware._devices import device_of

    y = np.asarray(bench.column(column), dtype=float)
    has = np.isfinite(y)
    latency = [c for c in (bench.metrics if among is None else among)
               if "_latency" in c and not c.endswith("_predicted")]
    same = {device_of(column)} | {device_of(c) for c in latency if c != column and
                                  np.array_equal(np.asarray(bench.column(c), dtype=float)[has], y[has])}
    names = [c for c in latency if device_of(c) not in same]
    columns = [np.asarray(bench.column(c), dtype=float) for c in names]
    keep = [i for i, v in enumerate(columns) if np.all(np.isfinite(v) & (v > 0))]
    names = [names[i] for i in keep]
    return names, (np.stack([columns[i] for i in keep], axis=1) if keep else np.empty((len(y), 0)))


PREDICTORS: dict[str, Callable[..., _Predictor]] = {
    "linear": LinearPredictor, "additive": AdditivePredictor, "gbm": GBMPredictor, "structure": StructurePredictor,
    "flops": FlopsPredictor, "fewshot": FewShotPredictor, "stacked": StackedPredictor,
}


def get_predictor(name: str, **kwargs: Any) -> _Predictor:
    """A new, unfitted predictor by name (``fewshot`` needs ``reference=``)."""
    if name not in PREDICTORS:
        raise UnknownNameError("latency predictor", name, PREDICTORS)
    return PREDICTORS[name](**kwargs)


def list_predictors() -> list[str]:
    return list(PREDICTORS)


def evaluate(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Spearman, Kendall and the fraction of predictions within 5% / 10% relative error
    (``|pred - true| / true``); pairs where either value is NaN are dropped."""
    t, p = np.asarray(y_true, dtype=float).ravel(), np.asarray(y_pred, dtype=float).ravel()
    if t.shape != p.shape:
        raise ArchscoutError(f"evaluate: {t.size} true values but {p.size} predictions")
    keep = np.isfinite(t) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if len(t) < 2:
        raise ArchscoutError(f"evaluate: {len(t)} pairs with values; needs at least 2")
    from scipy import stats

    rel = np.abs(p - t) / np.abs(t)
    return {
        "spearman": float(stats.spearmanr(t, p)[0]),
        "kendall": float(stats.kendalltau(t, p)[0]),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "within_10pct": float(np.mean(rel <= 0.10)),
    }
