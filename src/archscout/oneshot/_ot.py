"""NAS-OoD's coupling pieces (algorithms.md §3.2-§3.3): the gradient-reversal layer and the entropic
optimal-transport (Sinkhorn) distance used for the novelty term.

- ``grad_reverse(x)`` / ``GradReverse``: identity forward, gradient times ``-scale`` backward. Placed at
  the supernet's input, one backward pass of the architecture loss gives descent directions for the
  architecture and the weights and ascent directions for the generator (pitfall 4: only there).
- ``sinkhorn_distance(a, b)``: point clouds ``a`` (N, d) and ``b`` (M, d) with uniform weights, cost
  ``C_ij = ||a_i - b_j||^2``, log-domain Sinkhorn iterations with ``eps`` (1 in NAS-OoD), stopped after
  ``max_iter`` iterations or when ``sum |u - u_prev| < tol``; the distance is ``sum_ij pi_ij C_ij`` with
  ``pi = exp(M)``, ``M_ij = (-C_ij + u_i + v_j) / eps``. Gradients flow through the unrolled iterations.
  Computed in float64 by default (pitfall 7: eps = 1 on unnormalized embeddings underflows otherwise).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GradReverse", "grad_reverse", "sinkhorn_distance"]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        # exact sign flip for scale 1 (negation is exact in floating point)
        return (grad.neg() if ctx.scale == 1.0 else grad * -ctx.scale), None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; the gradient is multiplied by ``-scale`` in the backward pass."""
    return _GradReverse.apply(x, float(scale))


class GradReverse(nn.Module):
    """The gradient-reversal layer as a module (see ``grad_reverse``)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


def sinkhorn_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1.0, max_iter: int = 100, tol: float = 0.1,
                      dtype: torch.dtype | None = torch.float64, return_plan: bool = False):
    """Entropic OT distance between the uniform point clouds ``a`` (N, d) and ``b`` (M, d).

    Args:
        eps: entropic regularization (NAS-OoD: 1).
        max_iter, tol: stop after ``max_iter`` iterations or once ``sum_i |u_i - u_prev_i| < tol``
            (NAS-OoD: 100 and 0.1; pass ``tol=0`` to always run ``max_iter`` iterations).
        dtype: computation dtype (float64 by default; None keeps the input's); the result is cast back.
        return_plan: also return the transport plan ``pi`` (N, M).

    Returns:
        the 0-d distance ``sum(pi * C)`` (and ``pi`` with ``return_plan``), differentiable in a and b.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two point clouds (N, d) and (M, d); got {tuple(a.shape)} and {tuple(b.shape)}")
    if not eps > 0:
        raise ValueError(f"eps {eps!r} must be positive")
    out_dtype, where = a.dtype, a.device
    if dtype == torch.float64 and where.type == "mps":  # MPS has no float64: this part runs on the CPU
        a, b = a.cpu(), b.cpu()
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    n, m = a.shape[0], b.shape[0]
    cost = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)
    log_mu = torch.log(torch.tensor(1.0 / n + 1e-8, dtype=a.dtype, device=a.device))
    log_nu = torch.log(torch.tensor(1.0 / m + 1e-8, dtype=a.dtype, device=a.device))
    u = a.new_zeros(n)
    v = a.new_zeros(m)

    def log_kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (-cost + u.unsqueeze(1) + v.unsqueeze(0)) / eps

    for _ in range(max_iter):
        u_prev = u
        u = eps * (log_mu - torch.logsumexp(log_kernel(u, v), dim=1)) + u
        v = eps * (log_nu - torch.logsumexp(log_kernel(u, v).transpose(0, 1), dim=1)) + v
        if tol > 0 and float((u - u_prev).detach().abs().sum()) < tol:  # a host sync: it decides the stop
            break
    plan = torch.exp(log_kernel(u, v))
    dist = (plan * cost).sum().to(where, out_dtype)
    return (dist, plan.to(where, out_dtype)) if return_plan else dist
