"""ISTA-NAS's sparse-coding relaxation as NAS-OoD uses it (algorithms.md §3.3-§3.4), with a
project-owned LASSO solver (FISTA + an exact support polish; no MOSEK/CVXPY, pitfall 2).

Per group g (DARTS space: per cell type and intermediate node i, over the ``(2 + i) * 7`` (input edge,
op) pairs; NB201: per edge, over its 5 ops):

- a fixed random measurement matrix ``A_g`` (``proj_dims`` x n_g), entries uniform [0, 1);
- a learnable code ``z_g`` in R^proj_dims (the "alpha"; one row of the architecture tensor), init
  ``1e-3 * N(0, 1)``;
- recovery ``x_g = argmin_x 0.5 ||A_g x - z_g||^2 + gamma ||x||_1`` (``fista_lasso``);
- support ``S_g`` = the ``sparseness`` largest ``|x_g|`` (fixed for an epoch: the projection);
- mixing weights, one ISTA step restricted to the support: ``w[S] = x_S + A_S^T (z - A_S x_S)``, 0 off
  the support; raw signed reals, **no softmax** (pitfall 3);
- after each epoch the non-frozen codes are recovered again; group g freezes when
  ``||x_new - x_last||_2 <= freeze_tol`` (never after the first epoch; pitfall 9: the rule is on x,
  not z); a frozen group keeps its x and its z (``SparseCoding.restore_frozen`` undoes any optimizer
  move on frozen rows).

Devices: A, the recovered codes and the LASSO stay on the CPU (numpy, once per epoch); ``project``
puts the epoch's supports on the device of ``z``, so the mixing weights need no host round trip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["SparseCoding", "darts_groups", "fista_lasso", "lasso_objective", "nb201_groups"]


def lasso_objective(A: np.ndarray, z: np.ndarray, x: np.ndarray, gamma: float) -> float:
    """``0.5 ||A x - z||^2 + gamma ||x||_1``."""
    r = A @ x - z
    return float(0.5 * r @ r + gamma * np.abs(x).sum())


def _soft(v: np.ndarray, t: float) -> np.ndarray:
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def _polish(A: np.ndarray, z: np.ndarray, gamma: float, x: np.ndarray) -> np.ndarray | None:
    """The exact LASSO solution on the support and signs of ``x`` if it satisfies the optimality
    conditions (same signs on the support, ``|A_j^T r| <= gamma`` off it), else None."""
    scale = max(float(np.abs(x).max()), 1e-300)
    support = np.flatnonzero(np.abs(x) > 1e-9 * scale)
    if len(support) == 0 or len(support) > A.shape[0]:
        return None
    s = np.sign(x[support])
    As = A[:, support]
    gram = As.T @ As
    try:
        xs = np.linalg.solve(gram, As.T @ z - gamma * s)
    except np.linalg.LinAlgError:
        return None
    if np.any(np.sign(xs) != s):
        return None
    out = np.zeros_like(x)
    out[support] = xs
    corr = A.T @ (z - A @ out)
    off = np.ones(len(x), dtype=bool)
    off[support] = False
    if np.any(np.abs(corr[off]) > gamma * (1 + 1e-9)):
        return None
    return out


def fista_lasso(A: Any, z: Any, gamma: float = 1e-5, max_iter: int = 50_000, tol: float = 1e-13,
                x0: Any = None, polish: bool = True, check_every: int = 50) -> np.ndarray:
    """Solve ``min_x 0.5 ||A x - z||^2 + gamma ||x||_1`` (float64).

    FISTA (step 1/L, L = ||A||_2^2) with adaptive restart, stopped when an iterate moves less than
    ``tol`` (max norm, relative to max(1, |x|)). With ``polish``, every ``check_every`` iterations and
    at the end, the exact solution on the current support and signs (a small linear solve) is tried
    and returned as soon as it meets the LASSO optimality conditions (KKT), so the result is exact to
    rounding once FISTA has found the support.

    Note: sklearn's ``Lasso`` minimizes ``(1 / (2 p)) ||A x - z||^2 + a ||x||_1``: the same problem
    for ``a = gamma / p`` and ``fit_intercept=False``.
    """
    A = np.asarray(A, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    if A.ndim != 2 or A.shape[0] != len(z):
        raise ValueError(f"A must be (p, n) with p = len(z); got {A.shape} and {z.shape}")
    n = A.shape[1]
    lip = float(np.linalg.norm(A, 2) ** 2)
    if lip == 0.0:
        return np.zeros(n)
    x = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64).copy()
    y, t = x.copy(), 1.0
    AtA, Atz = A.T @ A, A.T @ z
    thresh = gamma / lip
    for k in range(max_iter):
        x_new = _soft(y - (AtA @ y - Atz) / lip, thresh)
        if float((y - x_new) @ (x_new - x)) > 0:  # adaptive restart (gradient scheme)
            t = 1.0
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = x_new + ((t - 1.0) / t_new) * (x_new - x)
        step = float(np.abs(x_new - x).max())
        x, t = x_new, t_new
        if step <= tol * max(1.0, float(np.abs(x).max())):
            break
        if polish and (k + 1) % check_every == 0:
            exact = _polish(A, z, gamma, x)
            if exact is not None:
                return exact
    if polish:
        exact = _polish(A, z, gamma, x)
        if exact is not None and lasso_objective(A, z, exact, gamma) <= lasso_objective(A, z, x, gamma) + 1e-15:
            return exact
    return x


# -- group layouts ------------------------------------------------------------------------------------
def darts_groups(n_types: int = 2, steps: int = 4, n_ops: int = 7, op_offset: int = 1,
                 ops_per_edge: int = 8) -> list[list[int]]:
    """Per (cell type, node) the flat indices into a ``(n_types, edges, ops_per_edge)`` weight tensor of
    the ``(2 + i) * n_ops`` code entries, entry ``idx = edge_local * n_ops + op`` (op id = idx % 7 in
    NAS-OoD's order; the supernet's ``none`` at position 0 is skipped by ``op_offset``)."""
    n_edges = sum(2 + i for i in range(steps))
    groups = []
    for c in range(n_types):
        first = 0
        for i in range(steps):
            groups.append([c * n_edges * ops_per_edge + (first + e) * ops_per_edge + op_offset + o
                           for e in range(2 + i) for o in range(n_ops)])
            first += 2 + i
    return groups


def nb201_groups(n_edges: int = 6, n_ops: int = 5) -> list[list[int]]:
    """NB201: one group per edge over its ``n_ops`` ops (``none`` included), flat into (6, 5)."""
    return [[e * n_ops + o for o in range(n_ops)] for e in range(n_edges)]


class SparseCoding:
    """The sparse-coding relaxation over ``groups`` of a flat weight tensor of shape ``weight_shape``.

    The learnable codes live outside (the architecture tensor ``z``, shape ``(len(groups), proj_dims)``);
    this object holds A, the last recovered codes, the supports of the current projection and the
    freeze flags, and maps ``z`` to the supernet's mixing weights.
    """

    def __init__(self, groups: list[list[int]], weight_shape: tuple[int, ...], proj_dims: int = 7,
                 sparseness: int = 2, gamma: float = 1e-5, freeze_tol: float = 1e-3,
                 generator: torch.Generator | None = None):
        if sparseness < 1 or any(len(g) < sparseness for g in groups):
            raise ValueError(f"sparseness {sparseness} must be in 1..{min(len(g) for g in groups)}")
        self.groups = [list(g) for g in groups]
        self.weight_shape = tuple(weight_shape)
        self.proj_dims, self.sparseness, self.gamma, self.freeze_tol = proj_dims, sparseness, gamma, freeze_tol
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.A = [torch.rand(proj_dims, len(g), generator=gen, dtype=torch.float64) for g in self.groups]
        self.x_last = [np.zeros(len(g)) for g in self.groups]
        self.frozen = np.zeros(len(self.groups), dtype=bool)
        self.recoveries = 0
        self._proj: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    # -- z -> x -------------------------------------------------------------------------------------
    def init_z(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Initial codes ``1e-3 * N(0, 1)``, shape ``(groups, proj_dims)``."""
        return 1e-3 * torch.randn(len(self.groups), self.proj_dims, generator=generator)

    def recover(self, z: torch.Tensor, allow_freeze: bool = True) -> list[float]:
        """Solve the LASSO of every non-frozen group with the current ``z``; apply the freeze rule
        (never on the first recovery, nor when ``allow_freeze`` is False: NAS-OoD's first epoch);
        ``x_last <- x_new``. Returns ``||x_new - x_last||_2`` per group (0 for groups frozen before)."""
        zz = z.detach().cpu().double().numpy()
        dist = []
        first = self.recoveries == 0
        for g in range(len(self.groups)):
            if self.frozen[g]:
                dist.append(0.0)
                continue
            x_new = fista_lasso(self.A[g].numpy(), zz[g], self.gamma, x0=self.x_last[g] if not first else None)
            d = float(np.linalg.norm(x_new - self.x_last[g]))
            if allow_freeze and not first and d <= self.freeze_tol:
                self.frozen[g] = True
            self.x_last[g] = x_new
            dist.append(d)
        self.recoveries += 1
        return dist

    def supports(self) -> list[np.ndarray]:
        """Per group, the ``sparseness`` entries with the largest ``|x_last|`` (ties: lower index)."""
        return [np.sort(np.argsort(-np.abs(x), kind="stable")[:self.sparseness]) for x in self.x_last]

    def project(self, device: torch.device | str | None = None) -> None:
        """Fix the supports and ``x_S`` for the coming steps (the epoch's projection), on ``device``."""
        self._proj = []
        for g, s in enumerate(self.supports()):
            idx = torch.as_tensor(s, dtype=torch.long)
            slots = torch.as_tensor(self.groups[g], dtype=torch.long)[idx]
            self._proj.append(tuple(t.to(device) for t in (
                slots, self.A[g][:, idx].float(), torch.as_tensor(self.x_last[g][s]).float())))

    def weights(self, z: torch.Tensor) -> torch.Tensor:
        """The mixing weights (``weight_shape``), differentiable in ``z``: per group
        ``w[S] = x_S + A_S^T (z - A_S x_S)``, 0 elsewhere."""
        if not self._proj:
            self.project(z.device)
        slots, values = [], []
        for g, (slot, As, xs) in enumerate(self._proj):
            values.append(xs + As.t() @ (z[g].to(As.dtype) - As @ xs))
            slots.append(slot)
        flat = torch.zeros(int(np.prod(self.weight_shape)), dtype=z.dtype, device=z.device)
        flat = flat.index_put((torch.cat(slots),), torch.cat(values).to(z.dtype))
        return flat.view(self.weight_shape)

    def restore_frozen(self, z: torch.Tensor, before: torch.Tensor) -> None:
        """Put the frozen rows of ``z`` back to ``before`` (after an optimizer step)."""
        if self.frozen.any():
            rows = torch.as_tensor(np.flatnonzero(self.frozen), dtype=torch.long, device=z.device)
            with torch.no_grad():
                z[rows] = before[rows]

    def distribution(self) -> np.ndarray:
        """``|x_last|`` normalized per group (plus 1e-12 so that no entry is exactly 0), spread into
        ``weight_shape`` (0 outside the groups)."""
        out = np.zeros(int(np.prod(self.weight_shape)))
        for g, x in zip(self.groups, self.x_last):
            a = np.abs(x) + 1e-12
            out[g] = a / a.sum()
        return out.reshape(self.weight_shape)

    # -- checkpoint -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"A": [a.clone() for a in self.A], "x_last": [torch.as_tensor(x).clone() for x in self.x_last],
                "frozen": torch.as_tensor(self.frozen).clone(), "recoveries": self.recoveries}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.A = [torch.as_tensor(a, dtype=torch.float64).clone() for a in state["A"]]
        self.x_last = [torch.as_tensor(x, dtype=torch.float64).numpy().copy() for x in state["x_last"]]
        self.frozen = torch.as_tensor(state["frozen"]).numpy().astype(bool).copy()
        self.recoveries = int(state["recoveries"])
        self._proj = []
