"""DARTS (Liu et al., ICLR 2019) on the NB201 space, algorithms.md §5: a soft mixture of all ops on
every edge, alpha trained by Adam on the architecture half; first order (DARTS-V1) by default, second
order (DARTS-V2, the finite-difference unrolled gradient) with ``second_order=True``. On NB201 both are
known to collapse towards parameter-free cells (all skip, index 1835): expected, reported, not hidden."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from archscout._accelerator import sum_dtype
from archscout.oneshot._base import (PAPER_NB201, OneShotConfig, OneShotMethod, SearchState, StepStats,
                                     arch_autocast, register_method)


@dataclass(frozen=True)
class DartsConfig(OneShotConfig):
    """DARTS settings: the shared ones (AutoDL's DARTS hyper-parameters) and the gradient's order.

    Args:
        second_order: DARTS-V2's unrolled gradient (about 3x the cost of a first-order step).
    """

    second_order: bool = False


@register_method("darts")
class Darts(OneShotMethod):
    """DARTS: ``weights = softmax(alpha)`` in both steps."""

    spaces = ("nb201", "darts")
    config_class = DartsConfig
    profiles = {"cpu": {"epochs": 10}, "paper": {**PAPER_NB201, "epochs": 50}}

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        return {"weights": state.alpha.softmax(-1)}

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats | None:
        if not state.config.second_order:
            return super().arch_step(state, x, y)
        return self._unrolled_step(state, x, y)

    def _unrolled_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        """DARTS-V2: g = dL_val(w', a)/da - xi * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 eps) with
        w' = w - xi dL_train(w, a)/dw, w+- = w +- eps dL_val(w', a)/dw', eps = 0.01 / ||dL_val/dw'||, and
        xi the current weight learning rate. The weights and BN statistics are restored afterwards."""
        net, alpha = state.supernet, state.alpha
        params = [p for p in net.parameters() if p.requires_grad]
        xt, yt = state.weight_batch
        xi = state.weight_optimizer.param_groups[0]["lr"]
        w0 = [p.detach().clone() for p in params]
        buffers = {k: v.clone() for k, v in net.named_buffers()}

        def grads(loss: torch.Tensor, wrt: list[torch.Tensor]) -> list[torch.Tensor]:
            out = torch.autograd.grad(loss, wrt, allow_unused=True)
            return [torch.zeros_like(t) if g is None else g for g, t in zip(out, wrt)]

        def set_weights(direction: list[torch.Tensor], scale: float | torch.Tensor) -> None:
            with torch.no_grad():
                for p, w, d in zip(params, w0, direction):
                    p.copy_(w + scale * d)

        def loss_of(xb: torch.Tensor, yb: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with arch_autocast(state):
                logits = net(xb, weights=weights)
                return logits, F.cross_entropy(logits, yb)

        set_weights(grads(loss_of(xt, yt, alpha.detach().softmax(-1))[1], params), -xi)
        logits, loss = loss_of(x, y, alpha.softmax(-1))
        if state.cost is not None:
            loss = loss + state.cost.penalty(self.probs(state))
        g_alpha, *g_w = grads(loss, [alpha, *params])
        # a float64 0-d tensor (as float() gave, without a host synchronisation)
        norm = torch.cat([g.flatten() for g in g_w]).norm().clamp_min(1e-12)
        eps = 0.01 / norm.to(sum_dtype(norm.device))
        hessian = []
        for sign in (1.0, -1.0):
            set_weights(g_w, sign * eps)
            hessian.append(grads(loss_of(xt, yt, alpha.softmax(-1))[1], [alpha])[0])
        set_weights(g_w, 0.0)
        with torch.no_grad():
            for k, v in net.named_buffers():
                v.copy_(buffers[k])
        alpha.grad = g_alpha - xi * (hessian[0] - hessian[1]) / (2 * eps)
        state.arch_optimizer.step()
        return StepStats(loss.detach(), (logits.argmax(1) == y).sum(), len(y))
