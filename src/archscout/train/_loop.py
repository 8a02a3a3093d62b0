"""One training run with per-epoch evaluation, atomic checkpoints and exact resume.

Every random draw of an epoch (batch order, augmentation) comes from a generator seeded by
(seed, epoch), and the checkpoint written at the end of each epoch holds everything else that
changes (weights, optimizer, schedule, history, global RNG states): a run killed and re-run ends
with the same weights as one that was never interrupted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import RunningStats, autocast, grad_scaler
from archscout.data import Domain
from archscout.train._augment import augment
from archscout.train._config import TrainConfig
from archscout._rundir import (atomic_save, check_identity, epoch_generator, load_checkpoint, rng_state,
                              set_rng_state)

CHECKPOINT = "checkpoint.pt"
KEYS = ("model", "optimizer", "scheduler", "history", "rng")  # what a checkpoint must hold to resume


@dataclass
class RunData:
    """What one run trains on (``x``, ``y``) and evaluates each epoch: ``evals[group][domain]``."""

    x: torch.Tensor
    y: torch.Tensor
    evals: dict[str, dict[str, Domain]]


@torch.inference_mode()
def accuracy(model: nn.Module, domain: Domain, batch_size: int, precision: str = "fp32") -> float:
    """Top-1 accuracy in percent (model and domain on one device)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=domain.x.device)
    with autocast(domain.x.device, precision):
        for i in range(0, len(domain), batch_size):
            correct += (model(domain.x[i:i + batch_size]).argmax(1) == domain.y[i:i + batch_size]).sum()
    return 100.0 * int(correct) / len(domain)  # one host synchronisation per domain


@torch.inference_mode()
def predict(model: nn.Module, domain: Domain, batch_size: int, precision: str = "fp32") -> torch.Tensor:
    """The predicted class of every image of ``domain`` (on its device): what ``accuracy`` compares."""
    model.eval()
    with autocast(domain.x.device, precision):
        return torch.cat([model(domain.x[i:i + batch_size]).argmax(1) for i in range(0, len(domain), batch_size)])


def steps_per_epoch(data: RunData, config: TrainConfig) -> int:
    """Full batches only: BatchNorm needs more than one image."""
    return max(1, len(data.y) // config.batch_size)


def epochs_done(run_dir: Path | None) -> int:
    """Epochs held by a run directory's checkpoint (0 without one): where ``fit`` resumes."""
    if run_dir is None or not (run_dir / CHECKPOINT).exists():
        return 0
    return len(load_checkpoint(run_dir / CHECKPOINT, KEYS)["history"])


def fit(model: nn.Module, data: RunData, config: TrainConfig, *, run_dir: Path | None = None,
        identity: dict[str, Any] | None = None, on_batch: Callable[[], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        until: int | None = None) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Train ``model`` (freshly built right after ``seed_everything(config.seed)``) for ``config.epochs``,
    or up to epoch ``until`` of that schedule (a later call with a larger ``until`` continues the run).

    Returns the per-epoch records (``epoch``, ``loss``, ``train_acc``, ``images``, ``train_seconds``,
    ``seconds`` and one ``{domain: accuracy}`` dict per eval group) and the per-epoch weights: in
    memory without ``run_dir``, else paths of ``run_dir/weights/epoch-NNN.pt``. With ``run_dir`` the
    run resumes from ``checkpoint.pt``. ``on_epoch`` sees each new record (raising there stops the run).
    """
    n = len(data.y)
    device = data.x.device
    steps = steps_per_epoch(data, config)
    total = steps * config.epochs
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay, nesterov=config.nesterov and config.momentum > 0)
    if config.schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = grad_scaler(device, config.precision)
    history: list[dict[str, Any]] = []
    weights: dict[int, Any] = {}
    if run_dir is not None:
        check_identity(run_dir, identity or {})
        (run_dir / "weights").mkdir(exist_ok=True)
        ckpt_path = run_dir / CHECKPOINT
        if ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path, KEYS)
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            if ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            history = ckpt["history"]
            set_rng_state(ckpt["rng"])
            weights = {r["epoch"]: run_dir / "weights" / f"epoch-{r['epoch']:03d}.pt" for r in history}
    if until is not None and len(history) > until:  # a run that went further: its first ``until`` epochs
        history, weights = history[:until], {e: w for e, w in weights.items() if e <= until}
    last = config.epochs if until is None else min(until, config.epochs)
    for epoch in range(len(history) + 1, last + 1):
        start = time.perf_counter()
        gen = epoch_generator(config.seed, epoch)
        order = torch.randperm(n, generator=gen).to(device)  # drawn on the CPU: the same stream everywhere
        model.train()
        stats = RunningStats(device)
        for s in range(steps):
            idx = order[s * config.batch_size:(s + 1) * config.batch_size] if n >= config.batch_size else order
            xb, yb = augment(data.x[idx], config.crop_padding, config.flip, gen), data.y[idx]
            with autocast(device, config.precision):
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            stats.add(loss, (logits.argmax(1) == yb).sum(), len(yb))
            if on_batch is not None:
                on_batch()
        record: dict[str, Any] = {"epoch": epoch, "loss": stats.mean_loss(), "train_acc": stats.accuracy(),
                                  "images": stats.seen, "train_seconds": time.perf_counter() - start}
        for group, domains in data.evals.items():
            record[group] = {name: accuracy(model, d, config.eval_batch_size, config.precision)
                             for name, d in domains.items()}
        record["seconds"] = time.perf_counter() - start
        history.append(record)
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if run_dir is None:
            weights[epoch] = state
        else:
            weights[epoch] = run_dir / "weights" / f"epoch-{epoch:03d}.pt"
            atomic_save(state, weights[epoch])
            atomic_save({"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "history": history,
                         "rng": rng_state()},
                        run_dir / CHECKPOINT)
        if on_epoch is not None:
            on_epoch(record)
    return history, weights


def load_weights(entry: Any) -> dict[str, torch.Tensor]:
    """A state dict from ``fit``'s weights: itself (in memory) or loaded from its path."""
    return load_checkpoint(entry, what="weights file") if isinstance(entry, Path) else entry
