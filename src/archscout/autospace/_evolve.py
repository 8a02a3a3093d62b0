"""The AutoSpace-style evolution loop (algorithms.md §4.3, a labelled reconstruction; every assumption is
an ``EvolveConfig`` option).

Per iteration t = 1..T:

1. per layer, ``Population.select``: K distinct cells by tournament (``tour``) with mutation (``p_mut``;
   mutants inherit the parent's fitness), the reference in slot 0 when ``ref_anchor``;
2. the supernet's layers mix those cells, ``y_l = sum_k softmax(a_l)_k cell_lk(x_l)`` (Eqn 3), with the
   logits ``a_l`` initialised from the cells' population fitness;
3. ``steps_per_iter`` pairs of batches, first order: an SGD step of the weights W on the weight half, then
   (after ``warmup_steps`` weight-only steps, so fresh mutants are not judged untrained) an Adam step of
   ``a`` on the architecture half on cross-entropy + ``lambda_res * R(a)``, R the expected cost (MAdds, or
   CPU latency) over the budget (``penalty``: ``linear`` E/B, ``log`` |log(E/B)|, ``none``) (Eqn 4);
4. write-back (Eqn 5): ``f <- beta*f + (1-beta)*(a - mean a)``;
5. population control (never the reference); weights of removed cells are dropped;
6. a checkpoint (``run_dir/checkpoint.pt``, atomic): a re-run resumes after the last finished iteration.

Compute device (``accelerator``): the supernet and its new cells are built and seeded on the CPU, then
moved; the halves live on the device; every draw comes from the CPU generators (``cpu`` gives exactly
the results of a CPU-only install); step statistics are read once per iteration. ``precision``: the
weight steps under autocast (fp16 with loss scaling), the logit steps under autocast for bf16 only.

A budget (``budget_madds`` or ``max_latency`` on ``device="cpu"``) becomes per-layer hard caps
(``budget_split``: ``reference`` = the reference cell's share of the budget in each layer, ``uniform``,
or ``none`` = penalty only): a cell over its layer's cap never enters a population, so with a split
every architecture of the learned space meets the budget. The output is the ``top_k`` cells per layer by
fitness: a ``LearnedSpace``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archscout._accelerator import (RunningStats, autocast, check_accelerator, check_precision, describe, fast_math,
                                    grad_scaler, resolve)
from archscout.autospace._cells import MUTATIONS, REFERENCE_CELL, Cell, parse_cell
from archscout.autospace._learned import LearnedSpace, register_learned
from archscout.autospace._population import INITS, Population
from archscout.autospace._supernet import CellModule, EvolutionSupernet, Skeleton
from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout._progress import progress_bar
from archscout._threads import torch_threads as _threads
from archscout._rundir import RUN_ONLY, check_finite

CHECKPOINT = "checkpoint.pt"
SPACE_FILE = "space.json"
PENALTIES = ("linear", "log", "none")
SPLITS = ("reference", "uniform", "none")
BASES = ("fbnet-small", "nb201")


@dataclass(frozen=True)
class EvolveConfig:
    """Options of the evolution (defaults: the CPU profile of algorithms.md §13.3).

    Reconstructed ([ASSUMPTION]) choices, each an option:
        population (P), k_sample (K), top_k (cells per layer in the learned space), tour (tournament size),
        p_mut (mutation probability), mutation_kinds (of ``MUTATIONS``), mutant_fitness ("parent": a mutant
        inherits its parent's f; "zero"), init ("reference": the reference plus mutants of it; "random"),
        reference (the reference cell's string; default the MBConv-like cell), ref_anchor (slot 0 = the
        reference), logit_init ("fitness": a starts from the sampled cells' f; "zero"), beta (Eqn 5), warmup_steps
        (weight-only steps at the start of each iteration), arch_lr (Adam on a), penalty / lambda_res
        (Eqn 4's resource term), budget_split (per-layer hard caps), patience (stop when every layer's top-K
        has not changed for this many iterations; None: run all iterations), expansion (cell width =
        expansion x layer width).
    Sizes and schedules: iterations, steps_per_iter, batch_size, lr/momentum/weight_decay (SGD on W,
    re-created each iteration since the trained cells change), image_size, train_images/val_images
    (caps on the two halves of the training domains), seed.
    How it computes (not part of the run's identity): threads, accelerator (``auto``, ``cpu``, ``cuda``,
    ``cuda:N``, ``mps``: where the supernet trains, not the budget's ``device``), precision (``fp32``,
    ``bf16``, ``fp16``).
    Budget: budget_madds (whole network, counted like ``count_macs``) or max_latency (ms, batch 1, one
    thread) on device "cpu" (this machine; each (layer, cell) is measured once, the sum is the estimate).
    """

    population: int = 8
    k_sample: int = 3
    top_k: int = 2
    tour: int = 3
    p_mut: float = 0.5
    mutation_kinds: tuple[str, ...] = MUTATIONS
    init: str = "reference"
    ref_anchor: bool = True
    reference: str = REFERENCE_CELL.to_str()
    mutant_fitness: str = "parent"
    logit_init: str = "fitness"
    beta: float = 0.5
    iterations: int = 6
    steps_per_iter: int = 30
    warmup_steps: int = 5
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    arch_lr: float = 0.05
    penalty: str = "linear"
    lambda_res: float = 0.1
    budget_madds: float | None = None
    device: str | None = None
    max_latency: float | None = None
    budget_split: str = "reference"
    patience: int | None = None
    widths: tuple[int, ...] = (8, 16, 16, 32)
    strides: tuple[int, ...] = (1, 2, 1, 2)
    stem: int = 8
    expansion: int = 2
    image_size: int = 16
    train_images: int | None = 1024
    val_images: int | None = 1024
    seed: int = 0
    threads: int | None = None
    accelerator: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check_accelerator(self.accelerator)
        check_precision(self.precision)
        check_finite(self)
        for name in ("population", "k_sample", "top_k", "tour", "iterations", "steps_per_iter", "batch_size",
                     "expansion", "image_size", "stem"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArchscoutError(f"{name} {v!r} must be an integer >= 1")
        if self.k_sample > self.population or self.top_k > self.population:
            raise ArchscoutError(f"k_sample ({self.k_sample}) and top_k ({self.top_k}) cannot exceed the population "
                                 f"({self.population})")
        if not 0 <= self.warmup_steps < self.steps_per_iter:
            raise ArchscoutError(f"warmup_steps {self.warmup_steps} must be in 0..steps_per_iter-1")
        if not 0 <= self.p_mut <= 1 or not 0 <= self.beta < 1:
            raise ArchscoutError(f"need 0 <= p_mut <= 1 and 0 <= beta < 1, got {self.p_mut}, {self.beta}")
        for k in self.mutation_kinds:
            if k not in MUTATIONS:
                raise UnknownNameError("mutation", k, MUTATIONS)
        if "op" not in self.mutation_kinds:
            raise ArchscoutError("mutation_kinds must include 'op' (every cell has an op to change)")
        if self.init not in INITS:
            raise UnknownNameError("init", self.init, INITS)
        if self.mutant_fitness not in ("parent", "zero"):
            raise UnknownNameError("mutant fitness rule", self.mutant_fitness, ("parent", "zero"))
        if self.logit_init not in ("fitness", "zero"):
            raise UnknownNameError("logit init", self.logit_init, ("fitness", "zero"))
        if self.penalty not in PENALTIES:
            raise UnknownNameError("penalty", self.penalty, PENALTIES)
        if self.budget_split not in SPLITS:
            raise UnknownNameError("budget split", self.budget_split, SPLITS)
        if not (self.lr > 0 and self.arch_lr > 0 and self.lambda_res >= 0):
            raise ArchscoutError("need lr > 0, arch_lr > 0 and lambda_res >= 0")
        if self.budget_madds is not None and self.max_latency is not None:
            raise ArchscoutError("give a MAdds budget or a latency limit, not both")
        if self.budget_madds is not None and not self.budget_madds > 0:
            raise ArchscoutError(f"budget_madds must be > 0, got {self.budget_madds}")
        if self.max_latency is not None:
            if not self.max_latency > 0:
                raise ArchscoutError(f"max_latency must be > 0 ms, got {self.max_latency}")
            if self.device != "cpu":
                raise UnknownNameError("device for fbnet-small cells (only this machine's CPU can time new cells)",
                                       self.device, ("cpu",))
        if len(self.widths) != len(self.strides) or not self.widths:
            raise ArchscoutError("widths and strides need one entry per layer")
        parse_cell(self.reference)

    @property
    def skeleton(self) -> Skeleton:
        return Skeleton(tuple(self.widths), tuple(self.strides), self.stem, self.image_size, self.expansion)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def cpu_profile(**overrides: Any) -> EvolveConfig:
    """The §13.3 CPU recipe (the defaults), with overrides."""
    return EvolveConfig(**overrides)


@dataclass
class EvolveResult:
    space: LearnedSpace
    history: list[dict[str, Any]]
    seconds: float
    populations: list[dict[str, Any]] = field(default_factory=list)
    compute: dict[str, Any] | None = None  # accelerator, its name, torch and CUDA versions, precision

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space.to_dict(), "history": self.history, "seconds": self.seconds,
                "populations": self.populations, "compute": self.compute}


# -- costs ------------------------------------------------------------------------------------------------
class CellCost:
    """Cost of a cell in a layer: closed-form MAdds, or batch-1 CPU latency measured once per (layer, cell)."""

    def __init__(self, skeleton: Skeleton, kind: str = "macs", cache: dict[str, float] | None = None):
        self.skeleton, self.kind = skeleton, kind
        self.shapes = skeleton.layers()
        self.cache: dict[str, float] = dict(cache or {})

    def __call__(self, layer: int, cell: Cell) -> float:
        s = self.shapes[layer]
        if self.kind == "macs":
            return float(cell.macs(s.c_in, s.c_out, s.h, s.stride, self.skeleton.expansion))
        key = f"{layer}:{cell.key()}"
        if key not in self.cache:
            from archscout.hardware import measure_latency

            m = CellModule(cell, s.c_in, s.c_out, s.stride, self.skeleton.expansion)
            self.cache[key] = float(measure_latency(m, (s.c_in, s.h, s.h), threads=1, warmup_s=0.02,
                                                    repeats=15, runs=1)["median_ms"])
        return self.cache[key]

    def fixed(self, num_classes: int, in_channels: int) -> float:
        if self.kind == "macs":
            return float(self.skeleton.fixed_macs(num_classes, in_channels))
        key = f"fixed:{num_classes}:{in_channels}"
        if key not in self.cache:
            from archscout.autospace._supernet import SequentialNetwork
            from archscout.hardware import measure_latency

            net = SequentialNetwork(self.skeleton, [], num_classes, in_channels)
            net.fc = nn.Linear(self.skeleton.stem, num_classes)  # no layers: the head reads the stem
            self.cache[key] = float(measure_latency(net, (in_channels, self.skeleton.input_size,
                                                          self.skeleton.input_size), threads=1, warmup_s=0.02,
                                                    repeats=15, runs=1)["median_ms"])
        return self.cache[key]


class _CustomCost(CellCost):
    def __init__(self, fn: Callable[[int, Cell], float]):
        self.fn, self.kind, self.cache = fn, "custom", {}

    def __call__(self, layer: int, cell: Cell) -> float:
        return float(self.fn(layer, cell))

    def fixed(self, num_classes: int, in_channels: int) -> float:
        return 0.0


def layer_caps(config: EvolveConfig, cost: CellCost, reference: Cell, num_classes: int,
               in_channels: int) -> list[float] | None:
    """Per-layer hard caps from the budget (None without a budget or with ``budget_split="none"``)."""
    budget = config.budget_madds if config.budget_madds is not None else config.max_latency
    if budget is None or config.budget_split == "none":
        return None
    n = len(config.widths)
    rest = budget - cost.fixed(num_classes, in_channels)
    ref = [cost(i, reference) for i in range(n)]
    unit = "MAdds" if cost.kind == "macs" else "ms"
    if rest <= 0 or (config.budget_split == "reference" and rest < sum(ref) * (1 - 1e-9)):
        raise ArchscoutError(f"budget {budget:,.6g} {unit} is below what the reference network needs "
                             f"({cost.fixed(num_classes, in_channels) + sum(ref):,.6g} {unit}); raise it")
    if config.budget_split == "uniform":
        return [rest / n] * n
    return [rest * r / sum(ref) for r in ref]


# -- the loop ---------------------------------------------------------------------------------------------
def _identity(config: EvolveConfig, data) -> dict[str, Any]:
    return {"method": "autospace-style evolution", "suite": data.name, "split": data.split.name,
            "data": {k: v for k, v in data.meta.items() if k != "split"}, "train_domains": list(data.split.train),
            "config": {k: v for k, v in config.to_dict().items() if k not in RUN_ONLY}}


def evolve(data, config: EvolveConfig | None = None, *, run_dir: str | Path | None = None, progress: bool = False,
           name: str | None = None, on_iteration: Callable[[dict[str, Any]], None] | None = None,
           stop_after: int | None = None, cost_fn: Callable[[int, Cell], float] | None = None) -> EvolveResult:
    """Evolve a learned space on the training domains of ``data`` (see the module docstring).

    ``run_dir`` makes the run resumable (and holds ``space.json`` at the end); ``stop_after`` ends the call
    after that many new iterations (to test a resume, like an interruption). ``cost_fn(layer, cell)``
    replaces the cost of the resource term (research and planted tests; no hard caps, budget 1 unless
    ``budget_madds`` is given).
    """
    from archscout.oneshot._base import OneShotConfig, prepare
    from archscout.train._augment import augment
    from archscout._rundir import IDENTITY, atomic_save, check_identity, epoch_generator, load_checkpoint, plain

    c = config or EvolveConfig()
    device = resolve(c.accelerator)
    start = time.perf_counter()
    halves = prepare(data, OneShotConfig(image_size=c.image_size, train_images=c.train_images,
                                         val_images=c.val_images, seed=c.seed)).to(device)
    num_classes, in_channels = halves.num_classes, halves.x_w.shape[1]
    skeleton = c.skeleton
    run_dir = Path(run_dir) if run_dir is not None else None
    fresh = run_dir is None or not (run_dir / IDENTITY).exists()
    if not fresh:  # the folder's config checked before its checkpoint is read
        check_identity(run_dir, _identity(c, data))
    reference = parse_cell(c.reference).canonical()
    ckpt = None
    if run_dir is not None and (run_dir / CHECKPOINT).exists():
        ckpt = load_checkpoint(run_dir / CHECKPOINT, ("populations", "modules", "supernet", "rng", "history",
                                                      "seconds"))
    cost = CellCost(skeleton, "macs" if c.max_latency is None else "latency",
                    None if ckpt is None else ckpt.get("cost_cache"))
    if cost_fn is not None:
        cost = _CustomCost(cost_fn)
        caps, budget = None, c.budget_madds or 1.0
    else:
        caps = layer_caps(c, cost, reference, num_classes, in_channels)
        budget = c.budget_madds if c.budget_madds is not None else c.max_latency
    if run_dir is not None and fresh:  # written once the budget is known to fit: a refused one leaves no folder
        check_identity(run_dir, _identity(c, data))

    def allowed(layer: int):
        return (lambda cell: True) if caps is None else (lambda cell: cost(layer, cell) <= caps[layer] * (1 + 1e-9))

    torch.manual_seed(c.seed)
    net = EvolutionSupernet(skeleton, num_classes, in_channels)
    rng = np.random.default_rng(c.seed)
    history: list[dict[str, Any]] = []
    seconds_before = 0.0
    scaler_state = None
    if ckpt is None:
        pops = []
        for i in range(len(skeleton.widths)):
            pop = Population(c.population, reference if (c.init == "reference" or c.ref_anchor) else None,
                             allowed=allowed(i))
            pop.initialize(rng, c.init, tuple(c.mutation_kinds))
            pops.append(pop)
    else:
        pops = [Population.from_dict(d, allowed=allowed(i)) for i, d in enumerate(ckpt["populations"])]
        for layer, keys in zip(net.layers, ckpt["modules"]):
            for cell_str in keys:
                layer.ensure(parse_cell(cell_str))
        net.load_state_dict(ckpt["supernet"])
        rng.bit_generator.state = ckpt["rng"]
        scaler_state = ckpt.get("scaler")
        history = ckpt["history"]
        seconds_before = ckpt["seconds"]
    net.to(device)
    scaler = grad_scaler(device, c.precision)
    if scaler_state:
        scaler.load_state_dict(scaler_state)
    b = min(c.batch_size, len(halves.y_w), len(halves.y_a))
    done_now, stopped_early = 0, False
    total = (c.iterations - len(history)) * c.steps_per_iter
    with _threads(c.threads), fast_math(device), progress_bar("evolve", total, progress) as tick:
        for it in range(len(history) + 1, c.iterations + 1):
            if stop_after is not None and done_now >= stop_after:
                break
            if c.patience and len(history) > c.patience and all(
                    h["top"] == history[-1]["top"] for h in history[-c.patience - 1:]):
                stopped_early = True
                break
            begin = time.perf_counter()
            torch.manual_seed(int(np.random.SeedSequence([c.seed, it]).generate_state(1)[0]))
            for pop in pops:
                pop.iteration = it
            sampled = [pop.select(c.k_sample, rng, tour=c.tour, p_mut=c.p_mut, ref_anchor=c.ref_anchor,
                                  mutation_kinds=tuple(c.mutation_kinds), mutant_fitness=c.mutant_fitness)
                       for pop in pops]
            for layer, cells in zip(net.layers, sampled):
                layer.set_active(cells)
            net.to(device)  # new cells are built (and seeded) on the CPU
            logits = [torch.tensor([pop.fitness(x) if c.logit_init == "fitness" else 0.0 for x in cells],
                                   dtype=torch.float32, device=device, requires_grad=True)
                      for pop, cells in zip(pops, sampled)]
            costs = [torch.tensor([cost(i, x) for x in cells], dtype=torch.float32, device=device)
                     for i, cells in enumerate(sampled)]
            fixed = cost.fixed(num_classes, in_channels)
            params = net.frame_parameters() + [p for layer in net.layers for p in layer.active_parameters()]
            w_opt = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=True)
            a_opt = torch.optim.Adam(logits, lr=c.arch_lr, betas=(0.5, 0.999))
            gen = epoch_generator(c.seed, it)
            tot = {"weights": RunningStats(device), "arch": RunningStats(device)}
            net.train()
            for step in range(c.steps_per_iter):
                # drawn on the CPU (the same stream on every accelerator), used on the device
                iw = torch.randint(len(halves.y_w), (b,), generator=gen).to(device)
                ia = torch.randint(len(halves.y_a), (b,), generator=gen).to(device)
                xw = augment(halves.x_w[iw], 1, False, gen)
                with autocast(device, c.precision):
                    out = net(xw, [a.detach().softmax(-1) for a in logits])
                    loss = F.cross_entropy(out, halves.y_w[iw])
                w_opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(w_opt)
                nn.utils.clip_grad_norm_(params, 5.0)
                scaler.step(w_opt)
                scaler.update()
                tot["weights"].add(loss, (out.argmax(1) == halves.y_w[iw]).sum(), len(iw))
                if step >= c.warmup_steps:
                    xa = augment(halves.x_a[ia], 1, False, gen)
                    probs = [a.softmax(-1) for a in logits]
                    with autocast(device, "bf16" if c.precision == "bf16" else "fp32"):  # fp16: no loss scaling here
                        out = net(xa, probs)
                        loss = F.cross_entropy(out, halves.y_a[ia])
                    total = loss
                    if budget is not None and c.penalty != "none" and c.lambda_res > 0:
                        expected = fixed + sum((p * k).sum() for p, k in zip(probs, costs))
                        ratio = expected / budget
                        total = loss + c.lambda_res * (ratio if c.penalty == "linear" else ratio.log().abs())
                    a_opt.zero_grad(set_to_none=True)
                    net.zero_grad(set_to_none=True)
                    total.backward()
                    a_opt.step()
                    tot["arch"].add(loss, (out.argmax(1) == halves.y_a[ia]).sum(), len(ia))
                tick()
            for pop, cells, a in zip(pops, sampled, logits):
                pop.write_back(cells, a.detach().cpu().double().numpy(), c.beta)
                pop.control(protect=())
            for layer, pop in zip(net.layers, pops):
                layer.prune(pop.cells())
            rec = {"iteration": it, "seconds": time.perf_counter() - begin,
                   "sampled": [[x.describe() for x in cells] for cells in sampled],
                   "weights": [[round(float(v), 4) for v in a.detach().softmax(-1).cpu()] for a in logits],
                   "top": [[x.key() for x in pop.top(c.top_k)] for pop in pops],
                   "expected_cost": float(cost.fixed(num_classes, in_channels) + sum(
                       float((a.detach().softmax(-1) * k).sum()) for a, k in zip(logits, costs))),
                   "population_sizes": [len(p) for p in pops]}
            for key, t in tot.items():
                if t.seen:  # the iteration's one host synchronisation for its statistics
                    rec[f"{key}_loss"], rec[f"{key}_acc"] = t.mean_loss(), t.accuracy()
            history.append(rec)
            done_now += 1
            if run_dir is not None:
                # plain types and tensors only: it loads with weights_only (a crafted file cannot run code)
                atomic_save({**plain({"iteration": it, "populations": [p.to_dict() for p in pops],
                                      "modules": [[layer.cells[k].cell.to_str() for k in layer.cells]
                                                  for layer in net.layers],
                                      "rng": rng.bit_generator.state, "history": history,
                                      "seconds": seconds_before + time.perf_counter() - start,
                                      "cost_cache": cost.cache, "scaler": scaler.state_dict()}),
                             "supernet": net.state_dict()},
                            run_dir / CHECKPOINT)
            if on_iteration is not None:
                on_iteration(rec)
    cells = [pop.top(c.top_k) for pop in pops]
    fitness = [[pop.fitness(x) for x in layer] for pop, layer in zip(pops, cells)]
    info = {"base": "fbnet-small", "method": "AutoSpace-style evolution (algorithms.md §4, reconstructed)",
            "suite": data.name, "split": data.split.name, "budget_madds": c.budget_madds, "device": c.device,
            "max_latency": c.max_latency, "layer_caps": caps, "cost_kind": cost.kind,
            "iterations_done": len(history), "finished": len(history) >= c.iterations or stopped_early,
            "seconds": None, "config": c.to_dict(), "reference": reference.to_str(),
            "compute": describe(device, c.precision)}
    space = LearnedSpace(cells, skeleton, name=name, fitness=fitness, info=info)
    register_learned(space)
    seconds = seconds_before + time.perf_counter() - start
    result = EvolveResult(space, history, seconds, [p.to_dict() for p in pops], describe(device, c.precision))
    if run_dir is not None and (len(history) >= c.iterations or stopped_early):
        space.save(run_dir / SPACE_FILE)
    return result
