"""Pareto dominance and hypervolume for all-minimize objective vectors (strategies, bench, reports)."""

from __future__ import annotations

import numpy as np


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (n, k), all objectives minimized.

    Rows equal to a non-dominated row are non-dominated too (duplicates are kept).
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n == 0:
        return np.zeros(0, bool)
    if points.shape[1] == 2:  # O(n log n): sort by (f0, f1), keep rows whose f1 beats every earlier f1
        order = np.lexsort((points[:, 1], points[:, 0]))
        f0, f1 = points[order, 0], points[order, 1]
        best_before = np.minimum.accumulate(np.concatenate([[np.inf], f1[:-1]]))
        keep = f1 < best_before
        # an equal copy of a kept row is kept too
        same_as_prev = np.concatenate([[False], (f0[1:] == f0[:-1]) & (f1[1:] == f1[:-1])])
        for i in np.flatnonzero(same_as_prev):
            keep[i] = keep[i - 1]
        mask = np.zeros(n, bool)
        mask[order] = keep
        return mask
    mask = np.ones(n, bool)
    for i in range(n):
        if mask[i]:
            dominated = np.all(points[i] <= points, axis=1) & np.any(points[i] < points, axis=1)
            mask &= ~dominated
    return mask


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` (n, k) and bounded by ``reference``, all objectives minimized."""
    points = np.asarray(points, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if len(points) == 0:
        return 0.0
    points = points[np.all(points < reference, axis=1)]
    if len(points) == 0:
        return 0.0
    points = np.unique(points[pareto_mask(points)], axis=0)
    if points.shape[1] == 2:
        order = np.argsort(points[:, 0])
        f0, f1 = points[order, 0], points[order, 1]
        widths = np.diff(np.concatenate([f0, [reference[0]]]))
        return float(np.sum(widths * (reference[1] - f1)))
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(points, reference, assume_pareto=True))
