"""MdeNAS (Zheng et al., ICCV 2019), algorithms.md §8: the architecture is a multinomial distribution per
edge, learned WITHOUT gradients from two statistics per (edge, op): how often the op was trained (H^e)
and how well the archs that used it did on validation data (H^a).

Per step, one single path is drawn from p (one op per edge) and shared by the step's two halves:

* the weight step trains that path on a weight-half batch (SGD) and adds 1 to H^e of its (edge, op)s;
* the "architecture step" computes no gradient: it evaluates the same path on an architecture-half
  batch (BN in training mode, as the other methods' architecture steps) and records its accuracy for
  the path's (edge, op)s: ``accuracy="average"`` (default, UniNAS) averages the records of the current
  epoch, ``accuracy="latest"`` (XNAS) keeps the newest record. (edge, op)s not evaluated in an epoch
  keep their previous H^a (0 before the first record).

At the end of each epoch, for each edge (``delta``)::

    delta_i = #{j : He_i < He_j and Ha_i > Ha_j} - #{j : He_i > He_j and Ha_i < Ha_j}
    p_i    <- p_i + prob_lr * delta_i

Comparisons are strict: ties in H^e (and in H^a) make a pair NOT comparable, so it adds nothing (XNAS
counts H^e ties as comparable; we follow the paper's strict statement, which with few epochs leaves
equally trained ops alone). Because delta is antisymmetric over pairs, sum_i delta_i = 0 and p keeps
summing to one; if an entry falls below zero, the row is shifted by its minimum and renormalized
(UniNAS), so p always stays on the simplex (an op shifted to exactly 0 is no longer sampled).

Hardware cost (``OpCost``): with a target, the recorded score of an evaluated path is its accuracy
(a fraction) minus the same penalty the gradient methods add to their loss,
``weight * relu(cost(path) / target - 1)`` with cost(path) the additive table's estimate of the
one-hot path: paths over the target rank lower in H^a. Derivation then applies the hard constraint
on the TRUE cost (the most probable feasible arch under p). Without a target, the cost is only reported.

Devices: p, H^e, H^a and the sums are a few numbers on the CPU (paths are drawn there); an architecture
step keeps its path's correct count on the device, and the epoch's records enter H^a at its end, in
step order (one host synchronisation per epoch, the same figures as recording each step at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archscout._accelerator import autocast
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot._base import (PAPER_NB201, Halves, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     derive_argmax, register_method, sgd_step)
from archscout.spaces import Arch

ACCURACY_MODES = ("average", "latest")


@dataclass(frozen=True)
class MdeNASConfig(OneShotConfig):
    """MdeNAS settings: the shared ones (SGD on the weights; the Adam settings are unused) plus the
    distribution update.

    Args:
        prob_lr: alpha_lr of the update p <- p + prob_lr * delta (UniNAS: 0.01).
        accuracy: ``average`` (H^a = mean of the epoch's records, UniNAS) or ``latest`` (XNAS).
    """

    prob_lr: float = 0.01
    accuracy: str = "average"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prob_lr > 0:
            raise ArchscoutError(f"prob_lr {self.prob_lr!r} must be positive")
        if self.accuracy not in ACCURACY_MODES:
            raise UnknownNameError("MdeNAS accuracy mode", self.accuracy, ACCURACY_MODES)


def delta(h_e: torch.Tensor, h_a: torch.Tensor) -> torch.Tensor:
    """Per row: delta_i = #{j: He_i < He_j, Ha_i > Ha_j} - #{j: He_i > He_j, Ha_i < Ha_j} (strict, so
    ties in either statistic are not comparable). Shapes (..., n_ops); returns float64."""
    he, ha = h_e.double(), h_a.double()
    less_e = he.unsqueeze(-1) < he.unsqueeze(-2)  # [.., i, j]: He_i < He_j
    more_a = ha.unsqueeze(-1) > ha.unsqueeze(-2)  # Ha_i > Ha_j
    up = (less_e & more_a).sum(-1)
    down = (less_e.transpose(-1, -2) & more_a.transpose(-1, -2)).sum(-1)  # He_i > He_j and Ha_i < Ha_j
    return (up - down).double()


def update_probs(p: torch.Tensor, d: torch.Tensor, lr: float) -> torch.Tensor:
    """p + lr * delta; rows with a negative entry are shifted by their minimum; all rows renormalized."""
    q = p.double() + lr * d.double()
    low = q.min(-1, keepdim=True).values
    q = torch.where(low < 0, q - low, q)
    return (q / q.sum(-1, keepdim=True)).to(p.dtype)


@register_method("mdenas")
class MdeNAS(OneShotMethod):
    """MdeNAS: ``state.alpha`` holds p (no gradients, no optimizer); ``state.extra`` holds H^e ("h_e"),
    H^a ("h_a") and the current epoch's accuracy sums and counts (all checkpointed)."""

    spaces = ("nb201", "darts")
    config_class = MdeNASConfig
    # algorithms.md §13.3: NB201-micro-sized supernet (C = 8, N = 1), 16x16, 10 epochs, alpha_lr 0.01.
    # No NB201 recipe in the paper (DARTS space, 4 GPU-hours): the paper profile uses DARTS's schedule.
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def __init__(self) -> None:
        self._pending: torch.Tensor | None = None
        self._records: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (path, correct, images) this epoch

    def init_arch(self, state: SearchState) -> None:
        shape = state.supernet.alpha_shape
        state.alpha = torch.full(shape, 1.0 / shape[-1])
        state.extra.update(h_e=torch.zeros(shape), h_a=torch.zeros(shape), acc_sum=torch.zeros(shape),
                           acc_n=torch.zeros(shape))

    def begin_epoch(self, state: SearchState) -> None:
        self._pending = None
        self._records = []
        state.extra["acc_sum"].zero_()
        state.extra["acc_n"].zero_()

    def _path(self, state: SearchState) -> torch.Tensor:
        """The step's path: drawn by whichever half-step comes first, reused by the other."""
        if self._pending is None:
            self._pending = self.sample(state)["index"]
            return self._pending
        index, self._pending = self._pending, None
        return index

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        p = state.alpha
        rows = torch.multinomial(p.reshape(-1, p.shape[-1]), 1, generator=state.generator)
        return {"index": rows.reshape(p.shape[:-1])}

    def probs(self, state: SearchState) -> torch.Tensor:
        return state.alpha

    def _mask(self, state: SearchState, index: torch.Tensor) -> torch.Tensor:
        return F.one_hot(index, state.alpha.shape[-1]).to(state.alpha.dtype)

    def weight_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        index = self._path(state)
        state.extra["h_e"] += self._mask(state, index)
        logits, loss = sgd_step(state, x, y, index=index)
        return StepStats(loss.detach(), (logits.argmax(1) == y).sum(), len(y))

    def score(self, state: SearchState, index: torch.Tensor, accuracy: float) -> float:
        """The recorded score of a path: accuracy minus the cost penalty of the one-hot path (with a target)."""
        if state.cost is None or state.cost.target is None:
            return accuracy
        return accuracy - float(state.cost.penalty(self._mask(state, index).double()))

    @torch.no_grad()
    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        """Evaluate the step's path; its accuracy is recorded at the end of the epoch (``record``)."""
        index = self._path(state)
        with autocast(state.device, state.config.precision):
            logits = state.supernet(x, index=index)
            loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum()
        self._records.append((index, correct, len(y)))
        return StepStats(loss, correct, len(y))

    def record(self, state: SearchState) -> None:
        """The epoch's path accuracies into H^a's sums (and H^a for ``latest``), in step order."""
        if not self._records:
            return
        counts = torch.stack([c for _, c, _ in self._records]).tolist()  # one host synchronisation
        ex = state.extra
        for (index, _, n), correct in zip(self._records, counts):
            value = self.score(state, index, correct / n)
            mask = self._mask(state, index)
            if state.config.accuracy == "latest":
                ex["h_a"] = torch.where(mask > 0, torch.full_like(mask, value), ex["h_a"])
            ex["acc_sum"] += mask * value
            ex["acc_n"] += mask
        self._records = []

    def end_epoch(self, state: SearchState) -> None:
        self.record(state)
        ex = state.extra
        if state.config.accuracy == "average":
            seen = ex["acc_n"] > 0
            ex["h_a"] = torch.where(seen, ex["acc_sum"] / ex["acc_n"].clamp_min(1), ex["h_a"])
        d = delta(ex["h_e"], ex["h_a"])
        ex["last_delta"] = d.float()
        state.alpha = update_probs(state.alpha, d, state.config.prob_lr)

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        probs = self.distribution(state)
        details = {"h_e": state.extra["h_e"].tolist(), "h_a": state.extra["h_a"].tolist()}
        if state.cost is not None:
            # p may hold exact zeros (shifted rows): floor them so that the feasibility search still ranks
            # every arch (log 0 would make all feasible archs tie at -inf)
            return state.cost.most_probable_feasible(np.maximum(probs, 1e-300)), details
        return derive_argmax(space, probs), details

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        rec = super().epoch_record(state)
        rec["delta_abs"] = float(state.extra["last_delta"].abs().sum()) if "last_delta" in state.extra else 0.0
        return rec
