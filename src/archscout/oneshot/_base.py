"""The one-shot interface: configs and profiles, the result, the method base class, the registry.

A method subclasses ``OneShotMethod`` and implements ``sample`` (the supernet's forward arguments for
the next step); the base runs the search loop it shares with every method:

1. data: the TRAINING domains only (never ``data.test``), pooled, resized to ``image_size``, split in
   a class-stratified weight half and architecture half (``holdout``, by seed), each capped at
   ``train_images`` / ``val_images``, normalized by the weight half's channel statistics;
2. per epoch (AutoDL's order by default, ``order="arch-first"`` for DARTS's): for each pair of
   batches, ``weight_step`` (SGD Nesterov, cosine per epoch to ``lr_min``, clipping) and
   ``arch_step`` (Adam on alpha; loss = cross-entropy + the cost penalty). Every random draw of an
   epoch (batch order, augmentation, sampled paths) comes from a generator seeded by (seed, epoch);
3. a checkpoint after each epoch (``run_dir/checkpoint.pt``, atomic): a re-run resumes from the last
   finished epoch and ends exactly as an uninterrupted run; another config in that directory refuses;
4. ``derive``: the discrete arch (NB201: per-edge argmax, ``none`` included; with a cost target, the
   most probable arch whose true cost meets it).

Hooks for new methods (MdeNAS, FP-NAS, NA-DARTS, ...): ``init_arch`` (own parameters/state in
``SearchState.alpha`` (any architecture tensor, checkpointed), ``arch_optimizer`` (optional) and
``extra``), ``begin_epoch``, ``sample``, ``weight_step``, ``arch_step`` (return None to skip),
``end_epoch`` (e.g. a per-epoch distribution update), ``probs``/``distribution``, ``derive``,
``epoch_record``.

Compute device (``accelerator``): the supernet is built and seeded on the CPU, then moved; the halves
live on the device for the whole search; every random draw comes from the CPU generators (the same
data stream everywhere; ``cpu`` gives exactly the results of a CPU-only install). Step statistics stay
on the device and are read once per epoch. Mixed precision (``precision``): weight steps run under
autocast (fp16 with loss scaling); architecture steps under autocast for bf16 only (fp16 has no loss
scaling there, so they stay fp32).
"""

from __future__ import annotations

import abc
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import (RunningStats, autocast, check_accelerator, check_precision, describe, fast_math,
                                    grad_scaler, resolve)
from archscout._progress import progress_bar
from archscout._registry import Registry
from archscout.data import DomainData, holdout
from archscout._io import atomic_write_json
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.oneshot._cost import OpCost
from archscout.spaces import Arch, get_space
from archscout.train._augment import augment, channel_stats
from archscout._threads import torch_threads as _threads
from archscout._rundir import (RESULT, RUN_ONLY, atomic_save, check_identity, epoch_generator, jsonable,
                              check_finite, load_checkpoint, rng_state, seed_everything, set_rng_state)

CHECKPOINT = "checkpoint.pt"
ORDERS = ("weights-first", "arch-first")
PROFILES = ("cpu", "paper")
# NB201's published search sizes (algorithms.md §5/§6; CIFAR at 32x32, AutoDL's crop 4 + flip); the cpu
# profile is OneShotConfig's defaults (§13.3). Methods add their epochs.
PAPER_NB201: dict[str, Any] = {"C": 16, "N": 5, "image_size": 32, "train_images": None, "val_images": None,
                               "crop_padding": 4, "flip": True}


# -- configuration ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OneShotConfig:
    """Settings shared by every one-shot method (defaults: the CPU profile of algorithms.md §13.3; the
    extras ``extra`` of a method's state must be tensors, numbers, strings, lists or dicts).

    Method-specific settings live in subclasses (``GDASConfig``, ``SPOSConfig``, ...). A profile
    (``get_profile``) changes only sizes and schedules, never the update rules.

    Args:
        C, N: supernet size: first-stage channels and cells per stage (NB201; the DARTS space reads
            N as the number of cells).
        epochs, batch_size: passes over the weight half; batches per step (one weight, one arch).
        lr, lr_min, momentum, weight_decay, nesterov: SGD on the weights, cosine per epoch lr -> lr_min.
        grad_clip: max norm of the weight gradients.
        arch_lr, arch_betas, arch_weight_decay: Adam on the architecture parameters.
        order: ``weights-first`` (AutoDL, NB201) or ``arch-first`` (original DARTS).
        image_size: inputs resized to this square size (None: as loaded).
        train_images, val_images: caps on the weight half and the architecture half (None: all).
        crop_padding, flip: augmentation of both halves (random crop after zero padding, flips).
        seed: weights, halves, batch order, augmentation and sampling.
        threads: ``torch.set_num_threads`` during the search (None: as is).
        accelerator: compute device, ``auto`` (CUDA, then MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N``
            or ``mps``.
        precision: ``fp32``, or mixed precision ``bf16`` / ``fp16`` (autocast; fp16 with loss scaling).
        threads, accelerator and precision are not part of a run's identity (a resume may change them).
    """

    C: int = 8
    N: int = 1
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    grad_clip: float = 5.0
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    order: str = "weights-first"
    image_size: int | None = 16
    train_images: int | None = 1024
    val_images: int | None = 1024
    crop_padding: int = 1
    flip: bool = False
    seed: int = 0
    threads: int | None = None
    accelerator: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_accelerator(self.accelerator)
        check_precision(self.precision)
        check_finite(self)  # every float field, a subclass's too
        for name in ("C", "N", "epochs", "batch_size"):
            _check_int(name, getattr(self, name), 1)
        for name in ("image_size", "train_images", "val_images", "threads"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        _check_int("seed", self.seed, 0)
        _check_int("crop_padding", self.crop_padding, 0)
        if self.order not in ORDERS:
            raise UnknownNameError("step order", self.order, ORDERS)
        if not (self.lr > 0 and 0 <= self.lr_min <= self.lr and self.arch_lr > 0):
            raise ArchscoutError(f"need lr > 0, 0 <= lr_min <= lr and arch_lr > 0; got lr={self.lr}, "
                                 f"lr_min={self.lr_min}, arch_lr={self.arch_lr}")
        if not (0 <= self.momentum < 1 and self.weight_decay >= 0 and self.arch_weight_decay >= 0):
            raise ArchscoutError("need 0 <= momentum < 1 and non-negative weight decays")
        if not self.grad_clip > 0:
            raise ArchscoutError(f"grad_clip {self.grad_clip!r} must be positive")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def identity(self) -> dict[str, Any]:
        """What a run directory is checked against: every field but the run-only ones."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY}


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ArchscoutError(f"{name} {value!r} must be an integer >= {low}")


# -- result -------------------------------------------------------------------------------------------
@dataclass
class OneShotResult:
    """What a search found: the derived arch, the architecture distribution, the per-epoch history.

    ``distribution`` has the supernet's ``alpha_shape`` (softmax(alpha) for the gradient methods;
    see each method); ``cost`` is the cost block (``OpCost.report``) when a cost term was given;
    ``details`` holds method-specific findings (e.g. SPOS's scored candidates); ``seconds`` is the
    search time: every epoch (also those of an interrupted earlier call) plus the derivation;
    ``compute`` the accelerator and precision it ran with (``archscout._accelerator.describe``).
    """

    method: str
    space: str
    arch: Arch
    arch_str: str
    arch_index: int | None
    distribution: np.ndarray
    history: list[dict[str, Any]]
    seconds: float
    config: dict[str, Any]
    cost: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    compute: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (arch as its string, distribution as nested lists, NaN as None)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["arch"] = self.arch_str
        return jsonable(out)


# -- search state -------------------------------------------------------------------------------------
@dataclass
class SearchState:
    """Everything a method's hooks read and change during one search (checkpointed each epoch, except
    ``generator``, re-derived from (seed, epoch), and ``weight_batch``, the current step's weight-half
    batch, which second-order and neighbourhood methods read in their architecture step). ``device``
    holds the supernet and the halves; ``scaler`` scales the weight steps' loss (enabled for fp16 only)."""

    supernet: nn.Module
    config: OneShotConfig
    weight_optimizer: torch.optim.Optimizer
    alpha: torch.Tensor | None = None
    arch_optimizer: torch.optim.Optimizer | None = None
    cost: OpCost | None = None
    generator: torch.Generator = field(default_factory=torch.Generator)
    epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    weight_batch: tuple[torch.Tensor, torch.Tensor] | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    scaler: torch.amp.GradScaler = field(default_factory=lambda: grad_scaler(torch.device("cpu"), "fp32"))


@dataclass
class Halves:
    """The search data: the weight half (``x_w``, ``y_w``) and the architecture half (``x_a``, ``y_a``),
    normalized, in memory."""

    x_w: torch.Tensor
    y_w: torch.Tensor
    x_a: torch.Tensor
    y_a: torch.Tensor
    num_classes: int

    def to(self, device: torch.device) -> "Halves":
        """The halves on ``device`` (resident for the whole search)."""
        return Halves(self.x_w.to(device), self.y_w.to(device), self.x_a.to(device), self.y_a.to(device),
                      self.num_classes)


@dataclass
class StepStats:
    """Loss (the batch mean) and correct predictions of one step: numbers, or 0-d tensors that stay on
    the device until the epoch's record reads them (no host synchronisation per step)."""

    loss: float | torch.Tensor
    correct: int | torch.Tensor
    seen: int


# -- supernets per space ------------------------------------------------------------------------------
def build_supernet(space: str, config: OneShotConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The search network of ``space`` at the config's size."""
    if space == "nb201":
        from archscout.nn._supernet import NB201Supernet

        return NB201Supernet(config.C, config.N, num_classes, in_channels)
    if space == "darts":
        from archscout.nn._supernet_darts import DartsSupernet

        return DartsSupernet(config.C, config.N, num_classes, in_channels)
    raise UnknownNameError("one-shot space", space, ("nb201", "darts"))


def derive_argmax(space: str, probs: np.ndarray) -> Arch:
    """The space's derivation from a distribution: NB201 per-edge argmax (``none`` included, §5);
    the DARTS space keeps each node's top-2 edges."""
    if space == "darts":
        from archscout.nn._supernet_darts import derive_darts

        return derive_darts(torch.as_tensor(probs), probs=True)
    return get_space(space).make(np.asarray(probs).argmax(-1).tolist())


def entropy(probs: torch.Tensor) -> float:
    """Mean over edges of the entropy (nats) of the per-edge op distribution."""
    p = probs.detach().clamp_min(1e-12)
    return float(-(p * p.log()).sum(-1).mean())


def arch_autocast(state: SearchState):
    """Autocast for architecture steps: bf16 only (they have no loss scaling, so fp16 runs them in fp32)."""
    return autocast(state.device, "bf16" if state.config.precision == "bf16" else "fp32")


def weight_update(state: SearchState) -> None:
    """After ``state.scaler.scale(loss).backward()``: unscale, clip and step the supernet weights."""
    scaler, opt = state.scaler, state.weight_optimizer
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(state.supernet.parameters(), state.config.grad_clip)
    scaler.step(opt)
    scaler.update()


def sgd_step(state: SearchState, x: torch.Tensor, y: torch.Tensor,
             **forward: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the supernet weights on ``(x, y)`` (``forward``: the supernet's sampling arguments),
    under the run's precision; returns the logits and the loss."""
    with autocast(state.device, state.config.precision):
        logits = state.supernet(x, **forward)
        loss = F.cross_entropy(logits, y)
    state.weight_optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    weight_update(state)
    return logits, loss


@contextmanager
def frozen(params: list[torch.Tensor]) -> Iterator[None]:
    """Turn off gradients of ``params`` for a block (an architecture step needs none for the weights)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


# -- the method base class ------------------------------------------------------------------------------
class OneShotMethod(abc.ABC):
    """A one-shot search method: ``search(space, data, config)`` -> ``OneShotResult``.

    Subclasses set ``name``, ``spaces``, ``config_class`` and ``profiles`` (per profile name, the
    config fields that differ from ``config_class``'s defaults) and implement ``sample``.
    """

    name: ClassVar[str]
    spaces: ClassVar[tuple[str, ...]] = ("nb201",)
    config_class: ClassVar[type[OneShotConfig]] = OneShotConfig
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}

    # -- hooks ------------------------------------------------------------------------------------
    def init_arch(self, state: SearchState) -> None:
        """Create the architecture parameters: alpha = 1e-3 * N(0, 1) with Adam (DARTS, GDAS)."""
        shape = state.supernet.alpha_shape
        state.alpha = (1e-3 * torch.randn(shape)).to(state.device).requires_grad_()  # drawn on the CPU
        c = state.config
        state.arch_optimizer = torch.optim.Adam([state.alpha], lr=c.arch_lr, betas=c.arch_betas,
                                                weight_decay=c.arch_weight_decay)

    def begin_epoch(self, state: SearchState) -> None:
        """Called before each epoch's steps (``state.epoch`` is 1-based)."""

    def end_epoch(self, state: SearchState) -> None:
        """Called after each epoch's steps, before its record and checkpoint."""

    @abc.abstractmethod
    def sample(self, state: SearchState) -> dict[str, torch.Tensor]:
        """The supernet's forward arguments for one step (``weights`` and/or ``index``)."""

    def probs(self, state: SearchState) -> torch.Tensor:
        """The architecture distribution as a differentiable tensor (softmax of alpha)."""
        return state.alpha.softmax(-1)

    def distribution(self, state: SearchState) -> np.ndarray:
        """The distribution reported in the result."""
        return self.probs(state).detach().cpu().double().numpy()

    def weight_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats:
        """One SGD step of the supernet weights on a weight-half batch (architecture held fixed)."""
        with torch.no_grad():
            kwargs = self.sample(state)
        logits, loss = sgd_step(state, x, y, **kwargs)
        return StepStats(loss.detach(), (logits.argmax(1) == y).sum(), len(y))

    def arch_step(self, state: SearchState, x: torch.Tensor, y: torch.Tensor) -> StepStats | None:
        """One Adam step of alpha on an architecture-half batch: cross-entropy + the cost penalty."""
        with frozen(list(state.supernet.parameters())):
            kwargs = self.sample(state)
            with arch_autocast(state):
                logits = state.supernet(x, **kwargs)
                loss = F.cross_entropy(logits, y)
            if state.cost is not None:
                loss = loss + state.cost.penalty(self.probs(state))
            state.arch_optimizer.zero_grad(set_to_none=True)
            loss.backward()
        state.arch_optimizer.step()
        return StepStats(loss.detach(), (logits.argmax(1) == y).sum(), len(y))

    def derive(self, state: SearchState, space: str, halves: Halves) -> tuple[Arch, dict[str, Any]]:
        """The discrete arch and method details: per-edge argmax, or the most probable feasible arch."""
        probs = self.distribution(state)
        if state.cost is not None:
            return state.cost.most_probable_feasible(probs), {}
        return derive_argmax(space, probs), {}

    def epoch_record(self, state: SearchState) -> dict[str, Any]:
        """Extra entries of an epoch's history record (entropy, expected cost, argmax arch)."""
        if state.alpha is None:
            return {}
        probs = self.probs(state).detach()
        rec: dict[str, Any] = {"entropy": entropy(probs)}
        if state.cost is not None:
            rec["expected_cost"] = float(state.cost.expected(probs))
        rec["argmax"] = get_space(state.supernet.space_name).to_str(
            derive_argmax(state.supernet.space_name, probs.cpu().double().numpy()))
        return rec

    # -- the search loop ----------------------------------------------------------------------------
    def search(self, space: str, data: DomainData, config: OneShotConfig | None = None, *,
               cost: OpCost | None = None, run_dir: str | Path | None = None, progress: bool = False,
               on_epoch: Callable[[dict[str, Any]], None] | None = None) -> OneShotResult:
        """Search ``space`` on the training domains of ``data``; see the module docstring.

        ``cost`` (``OpCost.fit(...).with_target(...)``) adds the expected-cost penalty and the hard
        constraint; ``run_dir`` makes the run resumable; ``on_epoch`` sees each new history record.
        """
        config = config or get_profile(self.name, "cpu")
        if not isinstance(config, self.config_class):
            raise ArchscoutError(f"{self.name} needs a {self.config_class.__name__}, got {type(config).__name__}")
        if space not in self.spaces:
            raise UnknownNameError(f"space for {self.name}", space, self.spaces)
        if cost is not None and cost.space != space:
            raise ArchscoutError(f"cost term is for space {cost.space!r}, the search is on {space!r}")
        device = resolve(config.accelerator)
        halves = prepare(data, config).to(device)  # resident on the device for the whole search
        identity = {"method": self.name, "space": space, "suite": data.name, "split": data.split.name,
                    "data": {k: v for k, v in data.meta.items() if k != "split"},
                    "train_domains": list(data.split.train), "config": config.identity(),
                    "cost": None if cost is None else cost.describe()}
        run_dir = Path(run_dir) if run_dir is not None else None
        if run_dir is not None:
            check_identity(run_dir, identity)
        with _threads(config.threads), fast_math(device):
            state, history = self._setup(space, config, cost, halves, run_dir)
            with progress_bar("search", (config.epochs - len(history)) * _steps(halves, config), progress) as tick:
                for epoch in range(len(history) + 1, config.epochs + 1):
                    history.append(self._epoch(state, epoch, halves, tick))
                    if run_dir is not None:
                        self._save(state, history, run_dir / CHECKPOINT)
                    if on_epoch is not None:
                        on_epoch(history[-1])
            start = time.perf_counter()
            state.generator = epoch_generator(config.seed, config.epochs + 1)
            arch, details = self.derive(state, space, halves)
            distribution = self.distribution(state)
        sp = get_space(space)
        index = sp.index(arch) if space == "nb201" else None
        result = OneShotResult(
            method=self.name, space=space, arch=arch, arch_str=sp.to_str(arch), arch_index=index,
            distribution=distribution, history=history,
            seconds=sum(h["seconds"] for h in history) + time.perf_counter() - start,
            config={**identity, "threads": config.threads}, cost=None if cost is None else cost.report(arch),
            details=details, compute=describe(device, config.precision))
        if run_dir is not None:
            atomic_write_json(run_dir / RESULT, result.to_dict())
        return result

    def _setup(self, space: str, config: OneShotConfig, cost: OpCost | None, halves: Halves,
               run_dir: Path | None) -> tuple[SearchState, list[dict[str, Any]]]:
        """The supernet built and seeded on the CPU, moved to the halves' device; resumed from a checkpoint."""
        device = halves.x_w.device
        seed_everything(config.seed)
        net = build_supernet(space, config, halves.num_classes, halves.x_w.shape[1]).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay, nesterov=config.nesterov and config.momentum > 0)
        state = SearchState(net, config, opt, cost=cost, device=device, scaler=grad_scaler(device, config.precision))
        self.init_arch(state)
        history: list[dict[str, Any]] = []
        path = None if run_dir is None else run_dir / CHECKPOINT
        if path is not None and path.exists():
            ckpt = load_checkpoint(path, ("supernet", "weight_optimizer", "alpha", "arch_optimizer", "extra",
                                          "history", "rng"))
            net.load_state_dict(ckpt["supernet"])
            opt.load_state_dict(ckpt["weight_optimizer"])  # its state follows the parameters' device
            if state.alpha is not None:
                with torch.no_grad():
                    state.alpha.copy_(ckpt["alpha"])
            if state.arch_optimizer is not None:
                state.arch_optimizer.load_state_dict(ckpt["arch_optimizer"])
            if ckpt.get("scaler"):
                state.scaler.load_state_dict(ckpt["scaler"])
            state.extra = ckpt["extra"]
            history = ckpt["history"]
            set_rng_state(ckpt["rng"])
        return state, history

    def _save(self, state: SearchState, history: list[dict[str, Any]], path: Path) -> None:
        atomic_save({"epoch": state.epoch, "supernet": state.supernet.state_dict(),
                     "weight_optimizer": state.weight_optimizer.state_dict(),
                     "alpha": None if state.alpha is None else state.alpha.detach().clone(),
                     "arch_optimizer": None if state.arch_optimizer is None else state.arch_optimizer.state_dict(),
                     "scaler": state.scaler.state_dict(), "extra": state.extra, "history": history,
                     "rng": rng_state()}, path)

    def _epoch(self, state: SearchState, epoch: int, halves: Halves, tick: Callable[[], None]) -> dict[str, Any]:
        c = state.config
        begin = time.perf_counter()
        state.epoch, state.generator = epoch, epoch_generator(c.seed, epoch)
        lr = c.lr_min + (c.lr - c.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / c.epochs))
        for group in state.weight_optimizer.param_groups:
            group["lr"] = lr
        self.begin_epoch(state)
        gen = state.generator
        # drawn on the CPU (the same stream on every accelerator), used on the device
        ow, oa = (torch.randperm(n, generator=gen).to(state.device) for n in (len(halves.y_w), len(halves.y_a)))
        b = min(c.batch_size, len(ow), len(oa))
        totals = {key: RunningStats(state.device) for key in ("weights", "arch")}
        state.supernet.train()
        for s in range(_steps(halves, c)):
            iw, ia = ow[s * b:(s + 1) * b], oa[s * b:(s + 1) * b]
            xw, xa = (augment(x, c.crop_padding, c.flip, gen) for x in (halves.x_w[iw], halves.x_a[ia]))
            state.weight_batch = (xw, halves.y_w[iw])
            steps = [("weights", self.weight_step, xw, halves.y_w[iw]), ("arch", self.arch_step, xa, halves.y_a[ia])]
            for key, step, x, y in steps if c.order == "weights-first" else steps[::-1]:
                stats = step(state, x, y)
                if stats is not None:
                    totals[key].add(stats.loss, stats.correct, stats.seen)
            tick()
        self.end_epoch(state)
        rec: dict[str, Any] = {"epoch": epoch, "lr": lr}
        for key, t in totals.items():
            if t.seen:  # the epoch's one host synchronisation for its statistics
                rec[f"{key}_loss"], rec[f"{key}_acc"] = t.mean_loss(), t.accuracy()
        rec.update(self.epoch_record(state))
        rec["seconds"] = time.perf_counter() - begin
        return rec


def _steps(halves: Halves, config: OneShotConfig) -> int:
    """Steps per epoch: full batches of both halves (BatchNorm needs more than one image)."""
    b = min(config.batch_size, len(halves.y_w), len(halves.y_a))
    return max(1, min(len(halves.y_w), len(halves.y_a)) // b)


def prepare(data: DomainData, config: OneShotConfig) -> Halves:
    """The training domains pooled, resized, split in a weight and an architecture half, normalized."""
    x = torch.cat([d.x for d in data.train])
    y = torch.cat([d.y for d in data.train])
    if config.image_size is not None and tuple(x.shape[-2:]) != (config.image_size,) * 2:
        x = F.interpolate(x, size=(config.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
    w_idx, a_idx = holdout(y, 0.5, seed=config.seed)
    rng = np.random.default_rng([config.seed, 1])
    w_idx, a_idx = (np.sort(rng.permutation(i)[:cap]) for i, cap in ((w_idx, config.train_images),
                                                                       (a_idx, config.val_images)))
    if len(w_idx) < 2 or len(a_idx) < 2:
        raise ArchscoutError(f"{len(y)} training images are too few to split into a weight and an architecture half")
    mean, std = channel_stats(x[w_idx])
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    x = (x - m) / s
    return Halves(x[w_idx], y[w_idx], x[a_idx], y[a_idx], data.num_classes)



# -- registry ---------------------------------------------------------------------------------------------
METHODS: Registry[type[OneShotMethod]] = Registry("one-shot method")


def register_method(name: str):
    """Class decorator: register a OneShotMethod subclass under ``name`` (sets its ``name``)."""
    return METHODS.register(name, named=True)


def get_method(name: str) -> OneShotMethod:
    """A fresh instance of the method registered as ``name``."""
    return METHODS.get(name)()


def list_methods(pattern: str = "*") -> list[str]:
    return METHODS.names(pattern)


def get_profile(method: str, name: str = "cpu", **overrides: Any) -> OneShotConfig:
    """The config of ``method`` under profile ``name`` (``cpu`` or ``paper``), with ``overrides``."""
    cls = METHODS.get(method)
    if name not in PROFILES:
        raise UnknownNameError("profile", name, PROFILES)
    known = [f.name for f in fields(cls.config_class)]
    for key in overrides:
        if key not in known:
            raise UnknownNameError(f"{method} config field", key, known)
    return cls.config_class(**{**cls.profiles.get(name, {}), **overrides})
