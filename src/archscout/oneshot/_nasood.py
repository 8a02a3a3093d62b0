"""NAS-OoD (Bai et al., ICCV 2021), algorithms.md §3: the architecture (and the supernet weights) are
optimized on synthetic out-of-distribution data from a conditional generator G that is trained, end to
end, to RAISE the architecture's loss (minimax), while auxiliary losses keep the class content.

Components (a re-implementation from the specification; the official code has no licence):

- G (``archscout.nn._generator.ConditionalGenerator``): ``x~ = G(x, d, novel)``, residual output;
- frozen auxiliary ConvNet-4 classifiers (``archscout.nn._auxnets``), a category one and a domain one,
  pre-trained on the TRAINING domains at the start of the search (``aux_epochs``), kept in the run's
  checkpoint (a resumed run does not retrain them; a checkpoint is written right after pre-training);
- losses: ``L_cyc = mean |G(x~, novel, d) - x|``, ``L_sem = CE(f_cat(x~), y)``, novelty
  ``L_ot = Sinkhorn(emb_dom(x~), emb_dom(x))`` (``_ot.sinkhorn_distance``); the generator minimizes
  ``L_G = lambda_cyc L_cyc + lambda_ce L_sem - lambda_ot L_ot - L_nas``, the ``-L_nas`` part through a
  gradient-reversal layer at the supernet's input (``_ot.grad_reverse``): one backward pass of L_nas gives
  descent for (alpha, w) and ascent for G;
- ``L_nas = CE(f_{alpha,w}(GRL(batch)), y)`` on a batch whose first ``round(stage1_ratio * N)`` images
  are synthetic and the rest real (``stage1_ratio = 1``: all synthetic, pitfall 6), plus the hardware
  cost penalty (softmax relaxation, NB201).

Update order (§3.4), per batch:

- ``mode="clean"`` (default): ONE G step on ``L_G - L_nas``: one forward of x~, one backward of
  ``L_G + L_nas`` through the GRL, then steps of alpha (Adam), G (Adam) and, single-level, w (SGD,
  gradients clipped). No retained graph is re-used after an in-place step (pitfall 11).
- ``mode="code"``: the official code's two G steps: backward ``L_G``, step G (gradients kept), then x~
  is RECOMPUTED with the stepped G (instead of the code's in-place-autograd trick of re-using the graph
  built before the step), L_nas backward adds ``-grad L_nas`` to G's kept gradient; step alpha, G again,
  w. (Deviation: the supernet sees x~ from G after its first step, not before.)
- ``level="single"`` (the code's): alpha, w and G on the same synthetic batch, over the pooled training
  data (the base's weight half + architecture half, an epoch is one pass over both).
- ``level="bi"`` (the paper's): w steps on REAL images of the weight half (SGD, architecture fixed);
  alpha and G step on G(architecture-half images), the supernet weights frozen in that step.

Relaxations:

- ``relaxation="softmax"`` (default on NB201): DARTS's mixture ``softmax(alpha)`` per edge (NB201: 5 ops,
  ``none`` included; DARTS space: NAS-OoD's 7 ops, the supernet's ``none`` gets weight 0). The cost
  penalty of ``OpCost`` acts on its expected cost; derivation is the per-edge argmax, or with a cost
  target the most probable arch meeting it (the base's hard constraint).
- ``relaxation="sparse"`` (default on the DARTS space): ISTA-NAS sparse coding (``_sparse.SparseCoding``):
  per (cell type, node) a code over the ``(2 + i) * 7`` (input, op) pairs, ``sparseness`` (2) non-zero
  signed weights per node, no softmax; LASSO recovery after each epoch, freeze rule on x; once every node
  is frozen, one more epoch trains and the remaining epochs are no-ops (the code stops stage 1 there;
  the base loop has no early-stop hook). Derivation per node: the 2 largest ``|x|``; since the DARTS
  space requires two DIFFERENT inputs per node, the second pick is the largest ``|x|`` on another input
  (the raw NAS-OoD picks, which may share an input, are in ``details["nasood_genotype"]``). On NB201,
  "sparse" means one code per EDGE over its 5 ops (``proj_dims`` x 5 matrix) with sparseness 1 (one op
  per edge); the derivation is the per-edge argmax of ``|x|`` (with a cost target, the most probable
  feasible arch under ``|x|`` normalized per edge). No cost penalty acts on the signed sparse weights;
  the cost is enforced at derivation only. The supernets' MixedOp BNs are affine-free (DARTS's search
  network), so the code's "BN affine becomes trainable when a node freezes" has nothing to switch on.

Not here: the code's stage 2 (training the sparsified supernet further with synthetic data) and its
per-epoch evaluation on the test split. archscout's main job retrains the derived arch from scratch
(``archscout.train``) and evaluates the held-out domain once, at the end. No step reads ``data.test``:
the data come from the base's ``prepare`` (training domains only). The code's 3.7 M-parameter rejection
of a derived genotype is not implemented (use a cost target instead).

Devices: G, the auxiliary classifiers, the supernet, alpha and the domain labels live on the accelerator
(built on the CPU, then moved); the sparse relaxation's LASSO runs on the CPU once per epoch. Mixed
precision: the bi-level weight step runs under autocast (fp16 with loss scaling); the joint step of G,
alpha (and, single-level, w) under autocast for bf16 only. The auxiliary pre-training runs in fp32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import sum_dtype
from archscout.data import DomainData, holdout
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.nn._auxnets import ConvNet4, freeze, pretrain_classifier
from archscout.nn._generator import ConditionalGenerator
from archscout.oneshot._base import (CHECKPOINT, Halves, OneShotConfig, OneShotMethod, SearchState, _steps,
                                     arch_autocast, derive_argmax, entropy, frozen, register_method, sgd_step)
from archscout.oneshot._ot import grad_reverse, sinkhorn_distance
from archscout.oneshot._sparse import SparseCoding, darts_groups, nb201_groups
from archscout.spaces import Arch, get_space
from archscout.train._augment import augment
from archscout._rundir import epoch_generator

RELAXATIONS = ("auto", "softmax", "sparse")
MODES = ("clean", "code")
LEVELS = ("single", "bi")
_LOSSES = ("nas", "cyc", "sem", "ot", "gen")


@dataclass(frozen=True)
class NASOODConfig(OneShotConfig):
    """NAS-OoD settings (defaults: the CPU profile, algorithms.md §13.3; the code's values in §3.5).

    The shared fields keep their meaning, with the code's values as defaults: batch 32, SGD without
    Nesterov, weight decay 3e-4, and a CONSTANT learning rate (``lr_min = lr``: the code does not step
    its schedule in the search stage). The defaults fit NB201 (C = 8, N = 1 cell per stage, 16x16, 1,536
    images per half: about 2 minutes on the fmnist-shift suite with 1 thread). On the DARTS space N is the
    number of cells: pass ``N=5`` for §13.3's recipe (5 cells, reductions at cells 1 and 3; about 25 s
    per epoch, 3.5 minutes for 8 epochs); N = 1 gives a single (reduction) cell.

    Args:
        relaxation: ``softmax``, ``sparse`` or ``auto`` (softmax on NB201, sparse on the DARTS space).
        mode: ``clean`` (one G step per batch) or ``code`` (the official code's two G steps).
        level: ``single`` (the code: alpha, w, G on the same synthetic batch) or ``bi`` (the paper: w on
            real weight-half data, alpha on G(architecture-half data)).
        stage1_ratio: fraction of each supernet batch that is synthetic (1: all).
        gen_channels, gen_blocks: generator width cd and residual blocks (paper: 64, 3).
        gen_lr, gen_betas: Adam on G.
        aux_width, aux_emb, aux_epochs, aux_lr, aux_batch: the auxiliary ConvNet-4 classifiers and their
            pre-training (SGD, momentum 0.9).
        lambda_cyc, lambda_ce, lambda_ot: weights of the generator's cycle, semantic and novelty terms.
        ot_eps, ot_iters, ot_tol: the Sinkhorn distance.
        ot_normalize: L2-normalize the domain embeddings before the Sinkhorn distance (NOT in NAS-OoD;
            an opt-in that bounds the novelty term, which G otherwise drives to large values).
        proj_dims, sparseness, lasso_gamma, freeze_tol: the sparse relaxation (``sparseness`` None: 2 on
            the DARTS space, 1 on NB201).
    """

    epochs: int = 8
    batch_size: int = 32
    train_images: int | None = 1536
    val_images: int | None = 1536
    lr_min: float = 0.025
    weight_decay: float = 3e-4
    nesterov: bool = False
    relaxation: str = "auto"
    mode: str = "clean"
    level: str = "single"
    stage1_ratio: float = 1.0
    gen_channels: int = 16
    gen_blocks: int = 1
    gen_lr: float = 1e-4
    gen_betas: tuple[float, float] = (0.5, 0.999)
    aux_width: int = 16
    aux_emb: int = 64
    aux_epochs: int = 3
    aux_lr: float = 0.01
    aux_batch: int = 64
    lambda_cyc: float = 10.0
    lambda_ce: float = 0.01
    lambda_ot: float = 0.01
    ot_eps: float = 1.0
    ot_iters: int = 50
    ot_tol: float = 0.1
    ot_normalize: bool = False
    proj_dims: int = 7
    sparseness: int | None = None
    lasso_gamma: float = 1e-5
    freeze_tol: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, value, allowed in (("relaxation", self.relaxation, RELAXATIONS), ("NAS-OoD mode", self.mode, MODES),
                                     ("NAS-OoD level", self.level, LEVELS)):
            if value not in allowed:
                raise UnknownNameError(name, value, allowed)
        if not 0.0 <= self.stage1_ratio <= 1.0:
            raise ArchscoutError(f"stage1_ratio {self.stage1_ratio!r} must be in [0, 1]")
        for low, names in ((1, ("gen_channels", "aux_width", "aux_emb", "aux_batch", "ot_iters", "proj_dims")),
                           (0, ("gen_blocks", "aux_epochs"))):
            for name in names:
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise ArchscoutError(f"{name} {value!r} must be an integer >= {low}")
        if self.sparseness is not None and (not isinstance(self.sparseness, int) or self.sparseness < 1):
            raise ArchscoutError(f"sparseness {self.sparseness!r} must be an integer >= 1 (or None)")
        if not (self.gen_lr > 0 and self.aux_lr > 0 and self.ot_eps > 0 and self.lasso_gamma > 0
                and self.freeze_tol >= 0 and self.ot_tol >= 0):
            raise ArchscoutError("need gen_lr, aux_lr, ot_eps, lasso_gamma > 0 and freeze_tol, ot_tol >= 0")
        if min(self.lambda_cyc, self.lambda_ce, self.lambda_ot) < 0:
            raise ArchscoutError("the lambda weights must be non-negative")


# per profile, the fields that differ from NASOODConfig's defaults (= the CPU profile of §13.3)
PROFILES_NASOOD: dict[str, dict[str, Any]] = {
    "cpu": {},
    # §3.5: the official code's search sizes (DARTS space; on NB201 N is cells per stage, heavy).
    "paper": {"C": 36, "N": 20, "image_size": 84, "train_images": None, "val_images": None, "epochs": 600,
              "crop_padding": 4, "flip": True, "gen_channels": 64, "gen_blocks": 3, "aux_width": 64,
              "aux_epochs": 100, "ot_iters": 100, "seed": 5},
    # a tiny run of every step, in seconds
    "smoke": {"C": 4, "N": 1, "image_size": 8, "epochs": 1, "batch_size": 16, "train_images": 64,
              "val_images": 64, "gen_channels": 4, "gen_blocks": 1, "aux_width": 4, "aux_emb": 8,
              "aux_epochs": 1, "ot_iters": 10},
}


@dataclass
class _Context:
    """What a search needs beyond the base's state: domain labels, the modules of NAS-OoD."""

    space: str
    relaxation: str
    num_domains: int
    in_channels: int
    d_w: torch.Tensor
    d_a: torch.Tensor
    generator: ConditionalGenerator | None = None
    gen_opt: torch.optim.Optimizer | None = None
    f_cat: ConvNet4 | None = None
    f_dom: ConvNet4 | None = None
    coder: SparseCoding | None = None


@register_method("nasood")
class NASOOD(OneShotMethod):
    """NAS-OoD: the search of algorithms.md §3 on NB201 or the DARTS cell space (see the module doc)."""

    spaces = ("nb201", "darts")
    config_class = NASOODConfig
    profiles = PROFILES_NASOOD

    def __init__(self) -> None:
        self._data: DomainData | None = None
        self._ctx: _Context | None = None

    # -- entry ------------------------------------------------------------------------------------
    def search(self, space: str, data: DomainData, config: OneShotConfig | None = None, **kwargs: Any):
        """As ``OneShotMethod.search``; the domain labels of the training domains condition G."""
        if len(data.split.train) < 1:
            raise ArchscoutError("NAS-OoD needs at least one training domain")
        self._data = data
        try:
            return super().search(space, data, config, **kwargs)
        finally:
            self._data = None

    @staticmethod
    def relaxation_of(config: NASOODConfig, space: str) -> str:
        """The relaxation in force (``auto``: softmax on NB201, sparse on the DARTS space)."""
        if config.relaxation == "auto":
            return "sparse" if space == "darts" else "softmax"
        return config.relaxation

    def _setup(self, space: str, config: OneShotConfig, cost: Any, halves: Halves,
               run_dir: Path | None) -> tuple[SearchState, list[dict[str, Any]]]:
        d_w, d_a = (d.to(halves.x_w.device) for d in _domain_labels(self._data, config, halves))
        self._ctx = _Context(space, self.relaxation_of(config, space), len(self._data.split.train),
                             halves.x_w.shape[1], d_w, d_a)
        state, history = super()._setup(space, config, cost, halves, run_dir)
        ctx = self._ctx
        if "generator" in state.extra:  # resumed: everything comes from the checkpoint
            ctx.generator.load_state_dict(state.extra["generator"])
            ctx.gen_opt.load_state_dict(state.extra["gen_opt"])
            ctx.f_cat.load_state_dict(state.extra["aux_cat"])
            ctx.f_dom.load_state_dict(state.extra["aux_dom"])
            freeze(ctx.f_cat)
            freeze(ctx.f_dom)
            if ctx.coder is not None:
                ctx.coder.load_state_dict(state.extra["sparse"])
        else:
            self._pretrain_aux(state, halves)
            self._sync(state)
            if run_dir is not None:  # pre-training is a finished stage: keep it
                self._save(state, history, run_dir / CHECKPOINT)
        return state, history

    def init_arch(self, state: SearchState) -> None:
        ctx, c = self._ctx, state.config
        net = state.supernet
        if ctx.relaxation == "softmax":
            state.alpha = (1e-3 * torch.randn(net.alpha_shape)).to(state.device).requires_grad_()
        else:
            if ctx.space == "darts":
                groups = darts_groups(net.alpha_shape[0], net.steps, ops_per_edge=net.alpha_shape[2])
                sparseness = c.sparseness or 2
            else:
                groups = nb201_groups(*net.alpha_shape)
                sparseness = c.sparseness or 1
            ctx.coder = SparseCoding(groups, net.alpha_shape, c.proj_dims, sparseness, c.lasso_gamma, c.freeze_tol,
                                     generator=torch.Generator().manual_seed(c.seed))
            state.alpha = ctx.coder.init_z().to(state.device).requires_grad_()
            ctx.coder.recover(state.alpha, allow_freeze=False)
        state.arch_optimizer = torch.optim.Adam([state.alpha], lr=c.arch_lr, betas=c.arch_betas,
                                                weight_decay=c.arch_weight_decay)
        in_ch = ctx.in_channels
        num_classes = self._data.num_classes
        # built (and seeded) on the CPU, then moved
        ctx.generator = ConditionalGenerator(in_ch, ctx.num_domains, c.gen_channels, c.gen_blocks).to(state.device)
        ctx.gen_opt = torch.optim.Adam(ctx.generator.parameters(), lr=c.gen_lr, betas=c.gen_betas)
        ctx.f_cat = ConvNet4(in_ch, num_classes, c.aux_width, c.aux_emb).to(state.device)
        ctx.f_dom = ConvNet4(in_ch, ctx.num_domains, c.aux_width, c.aux_emb).to(state.device)

    def _pretrain_aux(self, state: SearchState, halves: Halves) -> None:
        """Pre-train the category and domain classifiers on the training domains (both halves), freeze."""
        ctx, c = self._ctx, state.config
        x = torch.cat([halves.x_w, halves.x_a])
        report = {}
        for k, (name, net, y) in enumerate((("category", ctx.f_cat, torch.cat([halves.y_w, halves.y_a])),
                                            ("domain", ctx.f_dom, torch.cat([ctx.d_w, ctx.d_a])))):
            gen = torch.Generator().manual_seed(int(np.random.SeedSequence([c.seed, 7919, k]).generate_state(1)[0]))
            report[name] = pretrain_classifier(net, x, y, c.aux_epochs, c.aux_lr, c.aux_batch, generator=gen)
        state.extra["aux_report"] = report

    def _sync(self, state: SearchState) -> None:
        """Copy the NAS-OoD modules' states into ``state.extra`` (checkpointed by the base)."""
        ctx = self._ctx
        state.extra["generator"] = ctx.generator.state_dict()
        state.extra["gen_opt"] = ctx.gen_opt.state_dict()
        state.extra["aux_cat"] = ctx.f_cat.state_dict()
        state.extra["aux_dom"] = ctx.f_dom.state_dict()
        if ctx.coder is not None:
            state.extra["sparse"] = ctx.coder.state_dict()

    # -- relaxation ------------------------------------------------------------------------------
    def _weights(self, state: SearchState) -> torch.Tensor:
        """The supernet's mixing weights, differentiable in alpha."""
        if self._ctx.relaxation == "sparse":
            return self._ctx.coder.weights(state.alpha)
        return self.probs(state)

    def probs(self, state: SearchState) -> torch.Tensor:
        if self._ctx.relaxation == "sparse":
            return torch.as_tensor(self._ctx.coder.distribution(), dtype=torch.float32)
        if self._ctx.space == "darts":  # NAS-OoD's 7 ops: the supernet's 'none' gets weight 0
            return torch.cat([torch.zeros_like(state.alpha[..., :1]), state.alpha[..., 1:].softmax(-1)], -1)
        return state.alpha.softmax(-1)

    def distribution(self, state: SearchState) -> np.ndarray:
        if self._ctx.relaxation == "sparse":
            return self._ctx.coder.distribution()
        return self.probs(state).detach().cpu().double().numpy()

    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        return {"weights": self._weights(state)}

    def begin_epoch(self, state: SearchState) -> None:
        if self._ctx.coder is not None:
            self._ctx.coder.project(state.device)

    def end_epoch(self, state: SearchState) -> None:
        coder = self._ctx.coder
        if coder is not None and not state.extra.get("stopped", False):
            was = bool(coder.frozen.all())
            dist = coder.recover(state.alpha, allow_freeze=state.epoch > 1)
            state.extra["x_change"] = dist
            if was:  # every node was frozen before this epoch: the search stage is over
                state.extra["stopped"] = True
        self._sync(state)

    # -- steps -------------------------------------------------------------------------------------
    def _generator_losses(self, state: SearchState, x: torch.Tensor, y: torch.Tensor,
                          d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """x~ = G(x, d, novel) and ``L_G`` (cycle, semantic, -novelty) with its parts (float64 0-d tensors,
        read once per epoch)."""
        ctx, c = self._ctx, state.config
        g = ctx.generator
        x_t = g(x, d, g.novel)
        x_rec = g(x_t, g.novel, d)
        l_cyc = (x_rec - x).abs().mean()
        logits_cat = ctx.f_cat(x_t)
        l_sem = F.cross_entropy(logits_cat, y)
        with torch.no_grad():
            emb_real = ctx.f_dom.embed(x)
        emb_syn = ctx.f_dom.embed(x_t)
        if c.ot_normalize:
            emb_syn, emb_real = F.normalize(emb_syn, dim=1), F.normalize(emb_real, dim=1)
        l_ot = sinkhorn_distance(emb_syn, emb_real, eps=c.ot_eps, max_iter=c.ot_iters, tol=c.ot_tol)
        l_g = c.lambda_cyc * l_cyc + c.lambda_ce * l_sem - c.lambda_ot * l_ot
        dt = sum_dtype(state.device)
        parts = {"cyc": l_cyc.detach().to(dt), "sem": l_sem.detach().to(dt), "ot": l_ot.detach().to(dt),
                 "sem_acc": (logits_cat.argmax(1) == y).float().mean().to(dt) * 100.0}
        return x_t, l_g, parts

    def _nas_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor, d: torch.Tensor,
                  update_weights: bool) -> dict[str, torch.Tensor]:
        """One NAS-OoD step on (x, y, d): G, alpha and (``update_weights``) the supernet weights."""
        ctx, c = self._ctx, state.config
        net, g, gopt = state.supernet, ctx.generator, ctx.gen_opt
        for opt in (gopt, state.arch_optimizer, state.weight_optimizer):
            opt.zero_grad(set_to_none=True)
        with arch_autocast(state):
            x_t, l_g, parts = self._generator_losses(state, x, y, d)
        if c.mode == "code":
            l_g.backward()
            gopt.step()  # gradients are kept: the second step re-uses them
            with arch_autocast(state):
                x_t = g(x, d, g.novel)  # recomputed with the stepped G (no in-place-autograd trick)
        k = int(round(c.stage1_ratio * len(y)))
        batch = torch.cat([x_t[:k], x[k:]]) if k < len(y) else x_t
        params = list(net.parameters())
        with frozen([] if update_weights else params):
            weights = self._weights(state)
            with arch_autocast(state):
                logits = net(grad_reverse(batch), weights=weights)
                l_nas = F.cross_entropy(logits, y)
            loss = l_nas
            if state.cost is not None and ctx.relaxation == "softmax":
                loss = loss + state.cost.penalty(self.probs(state))
            (loss + l_g if c.mode == "clean" else loss).backward()
        before = state.alpha.detach().clone()
        state.arch_optimizer.step()
        if ctx.coder is not None:
            ctx.coder.restore_frozen(state.alpha, before)
        gopt.step()
        if update_weights:
            nn.utils.clip_grad_norm_(params, c.grad_clip)
            state.weight_optimizer.step()
        dt = sum_dtype(state.device)
        parts.update(nas=l_nas.detach().to(dt), gen=l_g.detach().to(dt),
                     nas_acc=(logits.argmax(1) == y).float().mean().to(dt) * 100.0)
        return parts

    def _real_weight_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Bi-level: one SGD step of the supernet weights on real weight-half images."""
        with torch.no_grad():
            weights = self._weights(state)
        logits, loss = sgd_step(state, x, y, weights=weights)
        dt = sum_dtype(state.device)
        return {"weights": loss.detach().to(dt), "weights_acc": (logits.argmax(1) == y).float().mean().to(dt) * 100}

    # -- the epoch (the base's loop, with domain labels and NAS-OoD's step order) -------------------
    def _epoch(self, state: SearchState, epoch: int, halves: Halves, tick: Callable[[], None]) -> dict[str, Any]:
        c, ctx = state.config, self._ctx
        begin = time.perf_counter()
        state.epoch, state.generator = epoch, epoch_generator(c.seed, epoch)
        lr = c.lr_min + (c.lr - c.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / c.epochs))
        for group in state.weight_optimizer.param_groups:
            group["lr"] = lr
        base_steps = _steps(halves, c)
        rec: dict[str, Any] = {"epoch": epoch, "lr": lr}
        if state.extra.get("stopped", False):
            for _ in range(base_steps):
                tick()
            self.end_epoch(state)
            rec.update(stopped=True, **self.epoch_record(state), seconds=time.perf_counter() - begin)
            return rec
        self.begin_epoch(state)
        gen = state.generator
        sums: dict[str, Any] = {}  # float64 0-d tensors on the device, read once per epoch
        count = 0
        state.supernet.train()
        ctx.generator.train()

        def add(parts: dict[str, torch.Tensor]) -> None:
            for key, v in parts.items():
                sums[key] = sums.get(key, 0.0) + v

        if c.level == "single":
            x_all, y_all = torch.cat([halves.x_w, halves.x_a]), torch.cat([halves.y_w, halves.y_a])
            d_all = torch.cat([ctx.d_w, ctx.d_a])
            order = torch.randperm(len(y_all), generator=gen).to(state.device)  # drawn on the CPU
            b = min(c.batch_size, len(y_all))
            steps = max(1, len(y_all) // b)
            done = 0
            for s in range(steps):
                idx = order[s * b:(s + 1) * b]
                add(self._nas_step(state, augment(x_all[idx], c.crop_padding, c.flip, gen), y_all[idx], d_all[idx],
                                   update_weights=True))
                count += 1
                while done < (s + 1) * base_steps // steps:
                    tick()
                    done += 1
        else:
            ow, oa = (torch.randperm(n, generator=gen).to(state.device) for n in (len(halves.y_w), len(halves.y_a)))
            b = min(c.batch_size, len(ow), len(oa))
            for s in range(base_steps):
                iw, ia = ow[s * b:(s + 1) * b], oa[s * b:(s + 1) * b]
                xw, xa = (augment(x, c.crop_padding, c.flip, gen) for x in (halves.x_w[iw], halves.x_a[ia]))
                state.weight_batch = (xw, halves.y_w[iw])
                add(self._real_weight_step(state, xw, halves.y_w[iw]))
                add(self._nas_step(state, xa, halves.y_a[ia], ctx.d_a[ia], update_weights=False))
                count += 1
                tick()
        self.end_epoch(state)
        for key in ("nas", "nas_acc", "cyc", "sem", "sem_acc", "ot", "gen", "weights", "weights_acc"):
            if key in sums:
                name = {"nas": "arch_loss", "nas_acc": "arch_acc", "weights": "weights_loss",
                        "weights_acc": "weights_acc"}.get(key, f"gen_{key}" if key != "gen" else "gen_loss")
                rec[name] = float(sums[key]) / count
        rec.update(self.epoch_record(state))
        rec["seconds"] = time.perf_counter() - begin
        return rec

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        ctx = self._ctx
        space = ctx.space
        probs = self.probs(state).detach()
        rec: dict[str, Any] = {}
        if ctx.relaxation == "softmax":
            rec["entropy"] = entropy(probs)
        else:
            rec["frozen"] = int(ctx.coder.frozen.sum())
            rec["nodes"] = len(ctx.coder.groups)
            if "x_change" in state.extra:
                rec["x_change"] = float(np.mean(state.extra["x_change"]))
        if state.cost is not None:
            rec["expected_cost"] = float(state.cost.expected(probs.to(torch.float64)))
        rec["argmax"] = get_space(space).to_str(self._derive_plain(state))
        return rec

    # -- derivation -----------------------------------------------------------------------------------
    def _derive_plain(self, state: SearchState) -> Arch:
        ctx = self._ctx
        if ctx.relaxation == "sparse" and ctx.space == "darts":
            return _derive_sparse_darts(ctx.coder, state.supernet.steps)[0]
        return derive_argmax(ctx.space, self.distribution(state))

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        ctx = self._ctx
        details: dict[str, Any] = {
            "relaxation": ctx.relaxation, "mode": state.config.mode, "level": state.config.level,
            "aux_pretraining": state.extra.get("aux_report", {}),
            "stage2": "not run: retrain the derived arch from scratch (archscout.train)"}
        if ctx.coder is not None:
            details["frozen"] = ctx.coder.frozen.tolist()
            details["stopped_early"] = bool(state.extra.get("stopped", False))
            details["codes"] = [x.tolist() for x in ctx.coder.x_last]
        if ctx.relaxation == "sparse" and space == "darts":
            arch, raw = _derive_sparse_darts(ctx.coder, state.supernet.steps)
            details["nasood_genotype"] = raw
            return arch, details
        arch, _ = super().derive(state, space, halves)
        return arch, details


# -- helpers ------------------------------------------------------------------------------------------
def _domain_labels(data: DomainData, config: OneShotConfig, halves: Halves) -> tuple[torch.Tensor, torch.Tensor]:
    """The training-domain index of every image of the two halves.

    Re-derives the base ``prepare``'s split indices (same holdout, same caps, same seeds) and checks
    them against its labels: the base's ``Halves`` carries no domain labels. Returns them on the CPU.
    """
    y = torch.cat([d.y for d in data.train])
    dom = torch.cat([torch.full((len(d.y),), i, dtype=torch.long) for i, d in enumerate(data.train)])
    w_idx, a_idx = holdout(y, 0.5, seed=config.seed)
    rng = np.random.default_rng([config.seed, 1])
    w_idx, a_idx = (np.sort(rng.permutation(i)[:cap]) for i, cap in ((w_idx, config.train_images),
                                                                       (a_idx, config.val_images)))
    if not (torch.equal(y[w_idx], halves.y_w.cpu()) and torch.equal(y[a_idx], halves.y_a.cpu())):
        raise ArchscoutError("internal: NAS-OoD's domain labels do not line up with the base's halves")
    return dom[w_idx], dom[a_idx]


def _derive_sparse_darts(coder: SparseCoding, steps: int) -> tuple[Arch, dict[str, list[list[Any]]]]:
    """Per (cell type, node): the largest |x| entry, then the largest on ANOTHER input (the DARTS space
    needs two different inputs); also NAS-OoD's raw top-2 picks (edge = idx // 7, op = idx % 7)."""
    from archscout.spaces._darts import PRIMITIVES, Genotype

    n_ops = len(PRIMITIVES)
    cells: list[list[tuple[str, int]]] = [[], []]
    raw: dict[str, list[list[Any]]] = {"normal": [], "reduce": []}
    for g, x in enumerate(coder.x_last):
        cell = g // steps
        order = np.argsort(-np.abs(x), kind="stable")
        first = int(order[0])
        second = next(int(i) for i in order[1:] if int(i) // n_ops != first // n_ops)
        for idx in (first, second):
            cells[cell].append((PRIMITIVES[idx % n_ops], idx // n_ops))
        raw["normal" if cell == 0 else "reduce"] += [[PRIMITIVES[int(i) % n_ops], int(i) // n_ops]
                                                      for i in order[:coder.sparseness]]
    concat = tuple(range(2, 2 + steps))
    genotype = Genotype(tuple(cells[0]), concat, tuple(cells[1]), concat)
    return get_space("darts").from_genotype(genotype), raw
