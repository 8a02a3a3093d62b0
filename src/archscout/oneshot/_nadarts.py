"""NA-DARTS (neighbourhood-aware DARTS; Wang, Cao, Li, Kitani, BMVC 2021), algorithms.md §9, as a
MONTE-CARLO NEIGHBOURHOOD RELAXATION: the paper's "differentiable representation for the neighborhood"
was not retrieved (§14 item 7), so this is the documented stand-in, not the paper's exact construction.

DARTS first order (soft mixture ``softmax(alpha)``; the weight step is DARTS's), except the
architecture loss. At each alpha step, R neighbour perturbations are drawn; each picks one edge e
(uniformly; in the DARTS cell space one (cell type, edge) row) and one op o different from the edge's
current argmax (uniformly among the others: a Hamming-distance-1 move of the derived arch), and replaces
that edge's row by ``(1 - rho) * softmax(alpha_e) + rho * onehot(o)``; all other rows are unchanged
(``neighbour_mixture``). The loss is

    L_N = (L_val(w, softmax(alpha)) + sum_r L_val(w, perturbed_r)) / (R + 1)   (+ the cost penalty)

on the same architecture batch, and alpha takes an Adam step on grad_alpha L_N. Gradients reach alpha
through the unperturbed rows and the (1 - rho) share of the perturbed one.

History: besides DARTS's records (``entropy`` = mean edge entropy of softmax(alpha)), each epoch
records the mean unperturbed loss ``center_loss`` and ``neighbour_gap`` = mean (L_N - L_val) (flatness:
a flat arch has a small gap; it is not guaranteed to be positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from archscout._accelerator import sum_dtype
from archscout.exceptions import ArchscoutError
from archscout.oneshot._base import (PAPER_NB201, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     arch_autocast, frozen, register_method)


@dataclass(frozen=True)
class NADartsConfig(OneShotConfig):
    """NA-DARTS settings: DARTS's (first order) plus the neighbourhood sampling.

    Args:
        neighbours: R, perturbed mixtures per alpha step (§9: 2-4; default 2).
        rho: mass moved to the neighbour's op on the perturbed edge, in (0, 1] (default 0.5).
    """

    neighbours: int = 2
    rho: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ArchscoutError(f"neighbours {self.neighbours!r} must be an integer >= 0")
        if not 0 < self.rho <= 1:
            raise ArchscoutError(f"rho {self.rho!r} must be in (0, 1]")


def neighbour_mixture(probs: torch.Tensor, rho: float, gen: torch.Generator) -> tuple[torch.Tensor, int, int]:
    """One Monte-Carlo neighbour of the mixture ``probs`` (..., n_ops): a random row r (over the
    flattened leading dims) becomes ``(1 - rho) * probs[r] + rho * onehot(o)`` with o a random op other
    than the row's argmax. Returns (the perturbed mixture, r, o); differentiable in ``probs``. The draws
    come from ``gen`` (CPU); reading the argmax is a host synchronisation (it decides the op)."""
    n_ops = probs.shape[-1]
    flat = probs.reshape(-1, n_ops)
    row = int(torch.randint(flat.shape[0], (1,), generator=gen))
    top = int(flat[row].detach().argmax())
    op = int(torch.randint(n_ops - 1, (1,), generator=gen))
    op += op >= top
    onehot = F.one_hot(torch.tensor(op, device=flat.device), n_ops).to(flat.dtype)
    mixed = torch.cat([flat[:row], ((1 - rho) * flat[row] + rho * onehot).unsqueeze(0), flat[row + 1:]])
    return mixed.reshape(probs.shape), row, op


@register_method("nadarts")
class NADarts(OneShotMethod):
    """NA-DARTS (Monte-Carlo neighbourhood relaxation), first order."""

    spaces = ("nb201", "darts")
    config_class = NADartsConfig
    # §13.3: the DARTS CPU config plus R = 2; paper profile: DARTS's NB201 schedule
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def __init__(self) -> None:
        self._sums: list = [0.0, 0.0, 0]  # center loss, gap (float64 0-d tensors once a step ran), steps

    def begin_epoch(self, state: SearchState) -> None:
        self._sums = [0.0, 0.0, 0]

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        return {"weights": state.alpha.softmax(-1)}

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        c, net = state.config, state.supernet
        with frozen(list(net.parameters())):
            probs = state.alpha.softmax(-1)
            with arch_autocast(state):
                logits = net(x, weights=probs)
                center = F.cross_entropy(logits, y)
            losses = [center]
            for _ in range(c.neighbours):
                mixed, _, _ = neighbour_mixture(probs, c.rho, state.generator)
                with arch_autocast(state):
                    losses.append(F.cross_entropy(net(x, weights=mixed), y))
            l_n = torch.stack(losses).mean()
            loss = l_n if state.cost is None else l_n + state.cost.penalty(probs)
            state.arch_optimizer.zero_grad(set_to_none=True)
            loss.backward()
        state.arch_optimizer.step()
        s = self._sums
        dt = sum_dtype(state.device)
        s[0], s[1], s[2] = s[0] + center.detach().to(dt), s[1] + (l_n - center).detach().to(dt), s[2] + 1
        return StepStats(loss.detach(), (logits.argmax(1) == y).sum(), len(y))

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        rec = super().epoch_record(state)
        total, gap, n = self._sums
        if n:
            rec.update(center_loss=float(total) / n, neighbour_gap=float(gap) / n)
        return rec
