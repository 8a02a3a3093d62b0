"""FP-NAS (Yan et al., CVPR 2021), algorithms.md §7, on the NB201 space: a learned distribution over
architectures (PARSEC-style), single-path training of sampled archs, an adaptive number of samples per
step and a coarse-to-fine distribution.

Blocks and distributions: NB201 has one searchable block (the cell) whose dimensions are its 6 edges
(5 ops each).

* coarse (factorized, epochs 1..E_c): P(A) = prod_e softmax(phi_e)[A_e], 30 parameters (``state.alpha``);
* fine (joint, epochs E_c+1..): P(A) = softmax(theta)[index(A)] over all 5^6 = 15,625 cells in NB201 index
  order (``state.extra["theta"]``), initialized as theta[A] = sum_e log_softmax(phi_e)[A_e], so that
  softmax(theta_init) equals the factorized product exactly (``joint_from_factorized``).
  E_c = ``coarse_epochs`` (default: half the epochs, rounded down).

Per step:

1. H = entropy of P in nats (factorized: sum of the 6 edge entropies; joint: of the 15,625-way softmax);
   K_t = clip(ceil(lambda_s * H), k_min, k_max) with lambda_s = k_max / (6 ln 5), so K = k_max at the
   uniform initialization (an [ASSUMPTION] of §7: the paper only says "adaptive to the entropy");
2. K_t archs A_k ~ P (with replacement), shared by the step's two halves (whichever runs first draws);
3. weight step: one SGD step on the mean over k of L_train(w; A_k), every A_k a single path on the SAME
   weight batch;
4. distribution step (no weight gradients) on an architecture batch: omega_k = softmax_k(-L_val(A_k) / T)
   (mean cross-entropy, T = ``temperature``), and gradient ASCENT
   ``params += dist_lr * (sum_k omega_k grad log P(A_k) - grad penalty(P))``, in closed form:
   sum_k omega_k grad log P(A_k) = sum_k omega_k onehot(A_k) - P (per edge for phi; over the 15,625
   cells for theta).

Resource term (with an ``OpCost`` target; lambda_r = the cost's ``weight``): penalty(P) =
weight * relu(E_P[cost] / target - 1), the form every method of the package uses. E_P[cost] is exact in
both phases: the additive table under the factorized P (linearity), and sum_A P(A) cost(A) over the
15,625 cells under the joint P, with cost(A) the TRUE table (``joint_cost="true"``, the additive estimate
where the table has no value) or the additive table (``joint_cost="additive"``). Derivation applies the
hard constraint on the true cost.

Result: ``distribution`` is the per-edge marginal (6, 5) of P (the joint marginalized); the derived arch
is the MODE of P (per-edge argmax in the coarse phase, argmax of theta in the fine phase; with a target,
the most probable arch whose true cost meets it).

Devices: phi, theta and the sampled archs live on the CPU (drawn with the CPU generator); the supernet
runs on the accelerator. Each distribution step reads its K losses back (one host synchronisation per
step: the update decides the next step's K_t and draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from archscout._accelerator import autocast
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot._base import (PAPER_NB201, Halves, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     register_method, weight_update)
from archscout.spaces import Arch, get_space

JOINT_COSTS = ("true", "additive")


@dataclass(frozen=True)
class FPNASConfig(OneShotConfig):
    """FP-NAS settings: the shared ones (SGD on the weights; the Adam settings are unused) plus the
    distribution's.

    Args:
        coarse_epochs: E_c, epochs with the factorized distribution (None: ``epochs // 2``; 0: joint
            from the start; ``epochs``: never switch).
        k_max, k_min: bounds of the adaptive sample count (K = k_max at the uniform initialization).
        temperature: T of omega_k = softmax(-L_val / T) on the mean cross-entropy.
        dist_lr: eta_a, the step of the gradient ascent on phi / theta (0.1; the cpu profile: 2.0, see
            ``FPNAS.profiles``). Too large and the entropy, hence K, collapses early (§7 pitfalls).
        joint_cost: per-cell cost of the joint phase's expected cost: ``true`` table or ``additive``.
    """

    coarse_epochs: int | None = None
    k_max: int = 8
    k_min: int = 1
    temperature: float = 1.0
    dist_lr: float = 0.1
    joint_cost: str = "true"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.coarse_epochs is not None and (isinstance(self.coarse_epochs, bool)
                                               or not isinstance(self.coarse_epochs, int)
                                               or not 0 <= self.coarse_epochs <= self.epochs):
            raise ArchscoutError(f"coarse_epochs {self.coarse_epochs!r} must be an integer in 0..epochs")
        for name in ("k_max", "k_min"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArchscoutError(f"{name} {v!r} must be a positive integer")
        if self.k_min > self.k_max:
            raise ArchscoutError(f"need k_min <= k_max; got {self.k_min}, {self.k_max}")
        if not (self.temperature > 0 and self.dist_lr > 0):
            raise ArchscoutError("temperature and dist_lr must be positive")
        if self.joint_cost not in JOINT_COSTS:
            raise UnknownNameError("FP-NAS joint cost", self.joint_cost, JOINT_COSTS)

    @property
    def switch_epoch(self) -> int:
        """E_c: the last factorized epoch."""
        return self.epochs // 2 if self.coarse_epochs is None else self.coarse_epochs


# -- the distribution's algebra ---------------------------------------------------------------------
def joint_from_factorized(phi: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
    """theta[i] = sum_e log_softmax(phi_e)[ops[i, e]] for every cell i (ops: (n_cells, n_edges))."""
    logp = phi.log_softmax(-1)
    return logp[torch.arange(ops.shape[1]), ops].sum(1)


def marginals(theta: torch.Tensor, ops: torch.Tensor, n_ops: int) -> torch.Tensor:
    """Per-edge op marginals (n_edges, n_ops) of the joint softmax(theta) (differentiable)."""
    p = theta.softmax(-1)
    n_edges = ops.shape[1]
    flat = (torch.arange(n_edges) * n_ops + ops).flatten()
    out = p.new_zeros(n_edges * n_ops).scatter_add(0, flat, p.repeat_interleave(n_edges))
    return out.view(n_edges, n_ops)


def entropy_nats(logits: torch.Tensor) -> float:
    """Total entropy (nats) of independent softmaxes over the last dim (summed over rows)."""
    logp = logits.double().log_softmax(-1)
    return float(-(logp.exp() * logp).sum())


def sample_count(h: float, scale: float, k_min: int, k_max: int) -> int:
    """K_t = clip(ceil(scale * H), k_min, k_max)."""
    return int(min(k_max, max(k_min, math.ceil(scale * h - 1e-9))))


@register_method("fpnas")
class FPNAS(OneShotMethod):
    """FP-NAS: phi in ``state.alpha`` (float64), theta in ``state.extra["theta"]`` once switched (both
    checkpointed); updated by hand, no optimizer. ``trace`` lists (epoch, H, K_t) of every step of this
    process (the K_t of the whole run are in ``details["sample_counts"]``)."""

    spaces = ("nb201",)
    config_class = FPNASConfig
    # §13.3: 3 factorized + 3 joint epochs, K_max 8, K_min 1. The paper searched FBNetV2-like ImageNet
    # spaces; on NB201 the paper profile takes DARTS's schedule (E_c = 25 of 50). The cpu schedule makes
    # ~1/500 of the paper's distribution steps (18 on digits-shift/style, ~100 with 1,024 images), so
    # its step size is larger (2.0 vs 0.1): with 0.1 the distribution does not move at all in 6 epochs
    # (entropy 9.65 -> 9.65 nats, K stays 8); with 2.0 the entropy falls to ~7.3 nats and K to 6-7.
    profiles = {"cpu": {"epochs": 6, "dist_lr": 2.0}, "paper": {**PAPER_NB201, "epochs": 50, "dist_lr": 0.1}}

    def __init__(self) -> None:
        self._pending: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._ops: torch.Tensor | None = None
        self._costs: torch.Tensor | None = None
        self.trace: list[tuple[int, float, int]] = []

    @property
    def ops(self) -> torch.Tensor:
        if self._ops is None:
            self._ops = torch.from_numpy(np.array(get_space("nb201").ops_table, dtype=np.int64))
        return self._ops

    def init_arch(self, state: SearchState) -> None:
        state.alpha = torch.zeros(state.supernet.alpha_shape, dtype=torch.float64)
        state.extra.update(theta=None, sample_counts=[])
        self.trace, self._costs = [], None

    @staticmethod
    def joint(state: SearchState) -> bool:
        return state.extra.get("theta") is not None

    def begin_epoch(self, state: SearchState) -> None:
        self._pending = None
        if not self.joint(state) and state.epoch > state.config.switch_epoch:
            state.extra["theta"] = joint_from_factorized(state.alpha, self.ops)

    def entropy(self, state: SearchState) -> float:
        return entropy_nats(state.extra["theta"] if self.joint(state) else state.alpha)

    def scale(self, state: SearchState) -> float:
        """lambda_s = k_max / H(uniform)."""
        n_edges, n_ops = state.supernet.alpha_shape
        return state.config.k_max / (n_edges * math.log(n_ops))

    def draw(self, state: SearchState, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """k archs ~ P: (op ids (k, 6), their cell indices in the joint phase, else None)."""
        gen = state.generator
        if self.joint(state):
            idx = torch.multinomial(state.extra["theta"].softmax(-1), k, replacement=True, generator=gen)
            return self.ops[idx], idx
        return torch.multinomial(state.alpha.softmax(-1), k, replacement=True, generator=gen).T.contiguous(), None

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        return {"index": self.draw(state, 1)[0][0]}

    def _archs(self, state: SearchState) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The step's K_t archs: drawn by whichever half-step comes first, reused by the other."""
        if self._pending is None:
            h = self.entropy(state)
            k = sample_count(h, self.scale(state), state.config.k_min, state.config.k_max)
            self.trace.append((state.epoch, h, k))
            state.extra["sample_counts"].append(k)
            self._pending = self.draw(state, k)
            return self._pending
        out, self._pending = self._pending, None
        return out

    def weight_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        archs, _ = self._archs(state)
        k = len(archs)
        state.weight_optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = 0.0, 0
        for a in archs:  # mean over the K single paths, one backward each (same gradient, less memory)
            with autocast(state.device, state.config.precision):
                logits = state.supernet(x, index=a)
                loss = F.cross_entropy(logits, y)
            state.scaler.scale(loss / k).backward()
            loss_sum = loss_sum + loss.detach().double()
            correct = correct + (logits.argmax(1) == y).sum()
        weight_update(state)
        return StepStats(loss_sum / k, correct, k * len(y))

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        archs, idx = self._archs(state)
        losses, correct = [], 0
        with torch.no_grad(), autocast(state.device, state.config.precision):
            for a in archs:
                logits = state.supernet(x, index=a)
                losses.append(F.cross_entropy(logits, y))
                correct = correct + (logits.argmax(1) == y).sum()
        loss = torch.stack(losses).double().cpu()  # the host synchronisation: the update needs the losses
        omega = (-loss / state.config.temperature).softmax(0)
        self.update(state, archs, idx, omega)
        return StepStats(loss.mean(), correct, len(archs) * len(y))

    def update(self, state: SearchState, archs: torch.Tensor, idx: torch.Tensor | None, omega: torch.Tensor) -> None:
        """params += dist_lr * (sum_k omega_k grad log P(A_k) - grad penalty(P)), closed form for the first."""
        lr = state.config.dist_lr
        if self.joint(state):
            theta = state.extra["theta"]
            grad = theta.new_zeros(theta.shape).index_add_(0, idx, omega.to(theta.dtype)) - theta.softmax(-1)
            grad = grad - self._penalty_grad(state, theta)
            state.extra["theta"] = theta + lr * grad
        else:
            phi = state.alpha
            counts = phi.new_zeros(phi.shape)
            rows = torch.arange(phi.shape[0]).repeat(len(archs))
            counts.index_put_((rows, archs.flatten()), omega.to(phi.dtype).repeat_interleave(phi.shape[0]),
                              accumulate=True)
            grad = counts - phi.softmax(-1) - self._penalty_grad(state, phi)
            state.alpha = phi + lr * grad

    def _cell_costs(self, state: SearchState) -> torch.Tensor:
        """Per-cell cost for the joint expectation: the true table (additive estimate where missing) or
        the additive table."""
        if self._costs is None:
            cost = state.cost
            additive = cost.intercept + cost.table[np.arange(self.ops.shape[1]), self.ops.numpy()].sum(1)
            if state.config.joint_cost == "true":
                true = cost.true_costs()
                additive = np.where(np.isfinite(true), true, additive)
            self._costs = torch.as_tensor(additive, dtype=torch.float64)
        return self._costs

    def expected_cost(self, state: SearchState, params: torch.Tensor) -> torch.Tensor:
        """E_P[cost], exact: additive under the factorized P, over all cells under the joint P."""
        if params.dim() == 1:
            return (params.softmax(-1) * self._cell_costs(state)).sum()
        return state.cost.expected(params.softmax(-1))

    def _penalty_grad(self, state: SearchState, params: torch.Tensor) -> torch.Tensor | float:
        cost = state.cost
        if cost is None or cost.target is None:
            return 0.0
        p = params.detach().clone().requires_grad_()
        pen = cost.weight * torch.relu(self.expected_cost(state, p) / cost.target - 1.0)
        (grad,) = torch.autograd.grad(pen, p)
        return grad

    # -- reporting and derivation -----------------------------------------------------------------------
    def probs(self, state: SearchState) -> torch.Tensor:
        """Per-edge marginals (6, 5) of P."""
        if self.joint(state):
            return marginals(state.extra["theta"], self.ops, state.supernet.alpha_shape[1])
        return state.alpha.softmax(-1)

    def mode(self, state: SearchState, feasible: np.ndarray | None = None) -> Arch:
        """The most probable arch (among ``feasible`` cells, a boolean mask in index order, if given)."""
        sp = get_space("nb201")
        if self.joint(state):
            logp = state.extra["theta"].detach().double().numpy().copy()
        else:
            logp = joint_from_factorized(state.alpha, self.ops).numpy()
        if feasible is None and not self.joint(state):
            return sp.make(state.alpha.argmax(-1).tolist())
        if feasible is not None:
            logp[~feasible] = -np.inf
        return sp.from_index(int(np.argmax(logp)))

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        feasible = None
        if state.cost is not None and state.cost.target is not None:
            feasible = state.cost.true_costs() <= state.cost.target
        details = {"phase": "joint" if self.joint(state) else "factorized",
                   "sample_counts": list(state.extra["sample_counts"])}
        return self.mode(state, feasible), details

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        rec = super().epoch_record(state)
        ks = [k for e, _, k in self.trace if e == state.epoch]
        rec.update(phase="joint" if self.joint(state) else "factorized", entropy_total=self.entropy(state),
                   k_mean=float(np.mean(ks)) if ks else None, k_last=ks[-1] if ks else None,
                   argmax=get_space("nb201").to_str(self.mode(state)))
        if state.cost is not None:
            params = state.extra["theta"] if self.joint(state) else state.alpha
            rec["expected_cost"] = float(self.expected_cost(state, params))
        return rec
