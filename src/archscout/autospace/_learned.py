"""Spaces on the CPU skeleton: the hand-made ``fbnet-small`` space and learned (AutoSpace-style) spaces.

Both are ``SearchSpace``s (registered by name, so ``get_space``, ``archscout.train.train`` and every
multi-trial strategy take them): an architecture is one choice per searchable layer of a ``Skeleton``.

- ``fbnet-small``: per layer one of the 9 FBNet blocks (HW-NAS-Bench's ``k3_e1`` ... ``skip``, built with
  ``archscout.nn._fbnet``) — the hand-made space the learned one is compared with.
- ``LearnedSpace``: per layer the top-K cells of an evolution (``archscout.autospace.evolve``); saved to
  and loaded from JSON, drawable (matplotlib), registered under its name on load.

``oneshot_search`` runs a first-order DARTS or a GDAS over any such space (a ``ChoiceSupernet`` of its
per-layer candidates), with an optional expected-MAdds penalty and a hard MAdds limit at derivation.
It lives here because ``archscout.oneshot``'s base builds only the NB201 and DARTS supernets
(``build_supernet``); a ``supernet(config, num_classes, in_channels)`` hook on the SearchSpace (and
``derive`` from the space) would let ``OneShotMethod.search`` host these spaces directly.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import check_accelerator, check_precision
from archscout.autospace._cells import CELL_OPS, Cell, parse_cell
from archscout.autospace._supernet import CPU_SKELETON, CellModule, ChoiceSupernet, SequentialNetwork, Skeleton
from archscout.exceptions import ArchscoutError, InvalidArchError, UnknownNameError
from archscout.spaces import Arch, SearchSpace, register_instance, register_space
from archscout.spaces._base import is_int
from archscout._io import atomic_write_json, read_json

FORMAT = "archscout.autospace.space/1"


class SkeletonSpace(SearchSpace):
    """A space of one choice per skeleton layer; subclasses give ``candidate(layer, choice) -> nn.Module``
    and ``choice_names(layer)``."""

    skeleton: Skeleton = CPU_SKELETON

    def choice_names(self, layer: int) -> list[str]:
        raise NotImplementedError

    def candidate(self, layer: int, choice: int) -> nn.Module:
        raise NotImplementedError

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"layer_{i}" for i in range(len(self.choices)))

    def to_str(self, arch: Arch) -> str:
        arch = self.parse(arch)
        return " ".join(self.choice_names(i)[o] for i, o in enumerate(arch.ops))

    def from_str(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InvalidArchError(f"{self.name}: expected a string, got {type(text).__name__}")
        tokens = [t for t in text.replace(",", " ").strip("[]() ").split() if t]
        if len(tokens) != len(self.choices):
            raise InvalidArchError(f"{self.name}: architecture string has {len(tokens)} choices, expected "
                                   f"{len(self.choices)} (one per layer)")
        ops = []
        for i, tok in enumerate(tokens):
            names = self.choice_names(i)
            t = tok.strip("'\"")
            if t in names:
                ops.append(names.index(t))
            elif is_int(t) and int(t) < len(names):
                ops.append(int(t))
            else:
                raise InvalidArchError(f"{self.name}: unknown choice {tok!r} at layer {i}; accepted: "
                                       f"{', '.join(names)} or 0..{len(names) - 1}")
        return self.make(ops)

    def build(self, arch: Any, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
        arch = self.parse(arch)
        blocks = [self.candidate(i, o) for i, o in enumerate(arch.ops)]
        return SequentialNetwork(self.skeleton, blocks, num_classes, in_channels)

    def supernet(self, num_classes: int = 10, in_channels: int = 3) -> ChoiceSupernet:
        cands = [[self.candidate(i, j) for j in range(n)] for i, n in enumerate(self.choices)]
        return ChoiceSupernet(self.skeleton, cands, num_classes, in_channels)

    # -- costs --------------------------------------------------------------------------------------
    @cached_property
    def layer_macs(self) -> list[list[int]]:
        """MAdds of every candidate of every layer (counted once with ``count_macs``)."""
        from archscout.hardware import count_macs

        out = []
        for i, s in enumerate(self.skeleton.layers()):
            out.append([int(count_macs(self.candidate(i, j), (1, s.c_in, s.h, s.h))) for j in range(self.choices[i])])
        return out

    def macs(self, arch: Any, num_classes: int = 10, in_channels: int = 3) -> int:
        arch = self.parse(arch)
        return self.skeleton.fixed_macs(num_classes, in_channels) + sum(
            self.layer_macs[i][o] for i, o in enumerate(arch.ops))

    def latency_ms(self, arch: Any, num_classes: int = 10, in_channels: int = 3, repeats: int = 20) -> float:
        """Batch-1 latency of the built network on this machine's CPU (1 thread, median)."""
        from archscout.hardware import measure_latency

        net = self.build(arch, num_classes, in_channels)
        s = self.skeleton
        return float(measure_latency(net, (in_channels, s.input_size, s.input_size), threads=1, warmup_s=0.05,
                                     repeats=repeats, runs=1)["median_ms"])

    def sample_within(self, rng: np.random.Generator, max_macs: float | None, tries: int = 10000) -> Arch:
        """A uniformly random arch with MAdds <= ``max_macs`` (rejection sampling)."""
        for _ in range(tries):
            a = self.sample(rng)
            if max_macs is None or self.macs(a) <= max_macs:
                return a
        raise ArchscoutError(f"{self.name}: no architecture under {max_macs:,.0f} MAdds found in {tries} draws")


# -- the hand-made space ------------------------------------------------------------------------------------
@register_space("fbnet-small")
class FBNetSmallSpace(SkeletonSpace):
    """The hand-made space on the CPU skeleton: per layer one of the 9 FBNet blocks of HW-NAS-Bench."""

    def __init__(self, skeleton: Skeleton = CPU_SKELETON):
        from archscout.spaces._fbnet import FBNET_OPS

        self.skeleton = skeleton
        self.ops = FBNET_OPS
        self.choices = (len(FBNET_OPS),) * len(skeleton.widths)

    def choice_names(self, layer: int) -> list[str]:
        return list(self.ops)

    def candidate(self, layer: int, choice: int) -> nn.Module:
        from archscout.nn._fbnet import fbnet_op

        s = self.skeleton.layers()[layer]
        return fbnet_op(choice, s.c_in, s.c_out, s.stride)


# -- learned spaces ---------------------------------------------------------------------------------------
class LearnedSpace(SkeletonSpace):
    """Per layer the top-K cells of an evolution. Arch.ops index into each layer's cell list; strings are
    ``c<i>`` tokens (e.g. ``"c0 c1 c0 c0"``)."""

    def __init__(self, cells: list[list[Cell]], skeleton: Skeleton = CPU_SKELETON, *, name: str | None = None,
                 fitness: list[list[float]] | None = None, info: dict[str, Any] | None = None):
        if not cells or any(not layer for layer in cells) or len(cells) != len(skeleton.widths):
            raise ArchscoutError(f"a learned space needs 1+ cells for each of the {len(skeleton.widths)} layers")
        self.skeleton = skeleton
        self.cells = [[parse_cell(c).canonical() for c in layer] for layer in cells]
        self.choices = tuple(len(layer) for layer in self.cells)
        self.fitness = fitness or [[0.0] * len(layer) for layer in self.cells]
        self.info = dict(info or {})
        self.name = name or "learned-" + self.digest()

    def digest(self) -> str:
        text = json.dumps([[c.key() for c in layer] for layer in self.cells]) + json.dumps(self.skeleton.to_dict())
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def choice_names(self, layer: int) -> list[str]:
        return [f"c{j}" for j in range(len(self.cells[layer]))]

    def candidate(self, layer: int, choice: int) -> nn.Module:
        s = self.skeleton.layers()[layer]
        return CellModule(self.cells[layer][choice], s.c_in, s.c_out, s.stride, self.skeleton.expansion)

    @cached_property
    def layer_macs(self) -> list[list[int]]:  # closed form (tested equal to count_macs)
        e = self.skeleton.expansion
        return [[c.macs(s.c_in, s.c_out, s.h, s.stride, e) for c in layer]
                for layer, s in zip(self.cells, self.skeleton.layers())]

    def arch_cells(self, arch: Any) -> list[Cell]:
        return [self.cells[i][o] for i, o in enumerate(self.parse(arch).ops)]

    def features(self, arch):
        """``encode`` (one-hot of the choices) followed by the chosen cells' live-op counts per layer: richer
        predictor features (``encode`` itself keeps the SearchSpace contract's shape)."""
        single = isinstance(arch, Arch)
        archs = [arch] if single else list(arch)
        base = self.encode(archs)
        extra = np.array([[c.count(op) for c in self.arch_cells(a) for op in CELL_OPS[1:]] for a in archs],
                         dtype=np.float32).reshape(len(archs), -1)
        out = np.concatenate([base, extra], axis=1) if len(archs) else base
        return out[0] if single else out

    # -- files ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "name": self.name, "skeleton": self.skeleton.to_dict(),
                "layers": [[{**c.to_dict(), "describe": c.describe(), "fitness": round(float(f), 6),
                             "macs": int(m)} for c, f, m in zip(layer, fit, macs)]
                           for layer, fit, macs in zip(self.cells, self.fitness, self.layer_macs)],
                "info": self.info}

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LearnedSpace":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ArchscoutError(f"not a learned space file (format {FORMAT!r} expected)")
        try:
            cells = [[parse_cell(c["cell"]) for c in layer] for layer in d["layers"]]
            fit = [[float(c.get("fitness", 0.0)) for c in layer] for layer in d["layers"]]
            return cls(cells, Skeleton.from_dict(d["skeleton"]), name=d.get("name"), fitness=fit, info=d.get("info"))
        except (KeyError, TypeError) as exc:
            raise ArchscoutError(f"learned space file is incomplete or malformed: {exc}") from None

    @classmethod
    def load(cls, path: str | Path, register: bool = True) -> "LearnedSpace":
        space = cls.from_dict(read_json(path, "learned space file"))
        if register:
            register_learned(space)
        return space

    def summary(self) -> str:
        lines = [f"learned space {self.name}: {len(self.cells)} layers x {'/'.join(map(str, self.choices))} cells, "
                 f"{int(np.prod(self.choices))} architectures"]
        info = self.info
        if info.get("budget_madds"):
            lines.append(f"budget: {info['budget_madds']:,.0f} MAdds")
        if info.get("max_latency"):
            lines.append(f"latency limit: {info['max_latency']} ms on {info.get('device')}")
        for i, (layer, s) in enumerate(zip(self.cells, self.skeleton.layers())):
            lines.append(f"layer {i} ({s.c_in}->{s.c_out}, stride {s.stride}, {s.h}x{s.h}):")
            for j, (c, f, m) in enumerate(zip(layer, self.fitness[i], self.layer_macs[i])):
                lines.append(f"  c{j}  fitness {f:+.3f}  {m / 1e3:8.1f} kMAdds  {c.describe()}")
        macs = [self.macs(a) for a in self.all_archs()]
        lines.append(f"MAdds of its architectures: {min(macs):,} .. {max(macs):,}")
        return "\n".join(lines)

    def all_archs(self) -> list[Arch]:
        return [Arch(self.name, ops) for ops in itertools.product(*(range(n) for n in self.choices))]

    def draw(self, path: str | Path | None = None):
        """A figure: one row per layer, one panel per cell (its DAG, edges coloured by op). Saved to ``path``
        (PNG/SVG/PDF by suffix) when given; returns the matplotlib Figure."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        colours = {"identity": "#888888", "conv1x1": "#1f77b4", "dw3x3": "#2ca02c", "dw5x5": "#d62728"}
        rows, cols = len(self.cells), max(self.choices)
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 1.6 * rows), squeeze=False)
        pos = {0: (0.0, 0.0), 1: (1.0, 0.6), 2: (2.0, -0.6), 3: (3.0, 0.0)}
        for i in range(rows):
            for j in range(cols):
                ax = axes[i][j]
                ax.set_axis_off()
                if j >= len(self.cells[i]):
                    continue
                cell = self.cells[i][j]
                for to, frm, op in cell.live_edges():
                    (x0, y0), (x1, y1) = pos[frm], pos[to]
                    name = CELL_OPS[op]
                    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                                arrowprops=dict(arrowstyle="->", color=colours[name], lw=1.8,
                                                connectionstyle="arc3,rad=0.15"))
                    ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, name, fontsize=6, ha="center", color=colours[name])
                for n in cell.live_nodes() | {0, 3}:
                    ax.plot(*pos[n], "o", color="black", ms=5)
                ax.set_xlim(-0.3, 3.3)
                ax.set_ylim(-1.0, 1.0)
                ax.set_title(f"layer {i} c{j}  f={self.fitness[i][j]:+.2f}", fontsize=7)
        fig.suptitle(f"{self.name} (AutoSpace-style learned space)", fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def register_learned(space: LearnedSpace) -> LearnedSpace:
    """Make ``get_space(space.name)`` return this instance (re-registering a name replaces it)."""
    return register_instance(space)


# -- one-shot search in a skeleton space ------------------------------------------------------------------
@dataclass(frozen=True)
class SmallOneShotConfig:
    """First-order DARTS / GDAS on a skeleton space (defaults: the §13.3 CPU recipe, 3 epochs).

    Args:
        method: "darts" (softmax mixture, first order) or "gdas" (Gumbel hard sample, straight-through;
            tau linear from tau_max to tau_min over the epochs).
        lambda_cost: weight of the expected-MAdds penalty lambda * E[MAdds] / max_macs (needs max_macs).
        accelerator: compute device (``auto``: CUDA, then MPS, else CPU; ``cpu``, ``cuda``, ``cuda:N``,
            ``mps``); the supernet is built on the CPU and moved, every draw comes from CPU generators.
        precision: ``fp32``, or ``bf16`` / ``fp16`` autocast of the weight steps (fp16 with loss scaling;
            the architecture steps under autocast for bf16 only).
    """

    method: str = "darts"
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 0.1
    lambda_cost: float = 0.0
    image_size: int = 16
    train_images: int | None = 1024
    val_images: int | None = 1024
    seed: int = 0
    accelerator: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_accelerator(self.accelerator)
        check_precision(self.precision)
        if self.method not in ("darts", "gdas"):
            raise UnknownNameError("one-shot method for skeleton spaces", self.method, ("darts", "gdas"))
        if self.epochs < 1 or self.batch_size < 2:
            raise ArchscoutError("epochs must be >= 1 and batch_size >= 2")


def _halves(data, seed: int, image_size: int, train_images: int | None, val_images: int | None):
    from archscout.oneshot._base import OneShotConfig, prepare

    return prepare(data, OneShotConfig(image_size=image_size, train_images=train_images, val_images=val_images,
                                       seed=seed))


def most_probable_within(space: SkeletonSpace, probs: list[np.ndarray], max_macs: float | None,
                         limit: int = 200000) -> Arch:
    """The arch with the highest product of per-layer probabilities among those with MAdds <= max_macs."""
    if max_macs is None:
        return space.make([int(np.argmax(p)) for p in probs])
    if int(np.prod(space.choices)) > limit:
        raise ArchscoutError(f"{space.name} is too large to enumerate for the MAdds limit")
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in space.choices), indexing="ij"), -1).reshape(-1, len(probs))
    lp = sum(np.log(np.maximum(np.asarray(p, float), 1e-12))[grid[:, i]] for i, p in enumerate(probs))
    macs = space.skeleton.fixed_macs() + sum(np.asarray(space.layer_macs[i])[grid[:, i]] for i in range(len(probs)))
    ok = macs <= max_macs
    if not ok.any():
        raise ArchscoutError(f"no architecture of {space.name} fits {max_macs:,.0f} MAdds")
    best = grid[np.flatnonzero(ok)[int(np.argmax(lp[ok]))]].tolist()
    return Arch(space.name, tuple(best))


def oneshot_search(space: SkeletonSpace, data, config: SmallOneShotConfig | None = None, *,
                   max_macs: float | None = None) -> dict[str, Any]:
    """DARTS (first order) or GDAS over a skeleton space; returns arch, probabilities, history, seconds
    and the compute it ran on."""
    from archscout._accelerator import RunningStats, autocast, describe, fast_math, grad_scaler, resolve
    from archscout.oneshot._gdas import gumbel_straight_through
    from archscout.train._augment import augment
    from archscout._rundir import epoch_generator, seed_everything

    c = config or SmallOneShotConfig()
    device = resolve(c.accelerator)
    start = time.perf_counter()
    h = _halves(data, c.seed, c.image_size, c.train_images, c.val_images).to(device)
    seed_everything(c.seed)
    net = space.supernet(h.num_classes, h.x_w.shape[1]).to(device)  # built and seeded on the CPU
    alphas = [(1e-3 * torch.randn(n)).to(device).requires_grad_() for n in space.choices]
    w_opt = torch.optim.SGD(net.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=True)
    a_opt = torch.optim.Adam(alphas, lr=c.arch_lr, betas=(0.5, 0.999), weight_decay=c.arch_weight_decay)
    scaler = grad_scaler(device, c.precision)
    arch_precision = "bf16" if c.precision == "bf16" else "fp32"  # no loss scaling in the architecture step
    costs = [torch.tensor(m, dtype=torch.float32, device=device) for m in space.layer_macs]
    fixed = space.skeleton.fixed_macs(h.num_classes, h.x_w.shape[1])
    history = []
    b = min(c.batch_size, len(h.y_w), len(h.y_a))
    steps = max(1, min(len(h.y_w), len(h.y_a)) // b)
    with fast_math(device):
        for epoch in range(1, c.epochs + 1):
            gen = epoch_generator(c.seed, epoch)
            tau = c.tau_max - (c.tau_max - c.tau_min) * (epoch - 1) / max(1, c.epochs - 1)
            # drawn on the CPU (the same stream on every accelerator), used on the device
            ow, oa = (torch.randperm(n, generator=gen).to(device) for n in (len(h.y_w), len(h.y_a)))
            lr = c.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / c.epochs))
            for g in w_opt.param_groups:
                g["lr"] = lr
            net.train()
            tot = RunningStats(device)

            def forward(x, precision):
                if c.method == "darts":
                    weights = [a.softmax(-1) for a in alphas]
                    with autocast(device, precision):
                        return net(x, weights)
                hard, idx = zip(*(gumbel_straight_through(a, tau, gen) for a in alphas))
                with autocast(device, precision):  # the sampled cells: a host synchronisation (control flow)
                    return net(x, list(hard), index=[int(j) for j in idx])

            for s in range(steps):
                iw, ia = ow[s * b:(s + 1) * b], oa[s * b:(s + 1) * b]
                xw, xa = augment(h.x_w[iw], 1, False, gen), augment(h.x_a[ia], 1, False, gen)
                logits = forward(xw, c.precision)
                with autocast(device, c.precision):
                    loss = F.cross_entropy(logits, h.y_w[iw])
                w_opt.zero_grad(set_to_none=True)
                a_opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(w_opt)
                nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                scaler.step(w_opt)
                scaler.update()
                tot.add(loss, (logits.argmax(1) == h.y_w[iw]).sum(), len(iw))
                a_opt.zero_grad(set_to_none=True)
                aloss = F.cross_entropy(forward(xa, arch_precision), h.y_a[ia])
                if c.lambda_cost and max_macs:
                    exp = fixed + sum((a.softmax(-1) * m).sum() for a, m in zip(alphas, costs))
                    aloss = aloss + c.lambda_cost * exp / max_macs
                net.zero_grad(set_to_none=True)
                aloss.backward()
                a_opt.step()
            probs = [a.detach().softmax(-1).cpu().numpy() for a in alphas]
            history.append({"epoch": epoch, "loss": tot.mean_loss(), "train_acc": tot.accuracy(),
                            "argmax": space.to_str(space.make([int(p.argmax()) for p in probs]))})
    probs = [a.detach().softmax(-1).cpu().double().numpy() for a in alphas]
    arch = most_probable_within(space, probs, max_macs)
    return {"method": c.method, "space": space.name, "arch": arch, "arch_str": space.to_str(arch),
            "probs": [p.tolist() for p in probs], "macs": space.macs(arch, h.num_classes, h.x_w.shape[1]),
            "history": history, "seconds": time.perf_counter() - start, "config": asdict(c),
            "compute": describe(device, c.precision)}
