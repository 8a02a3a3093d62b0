"""One first-order DARTS training step of the NB201 supernet: archscout vs NB201's own code (xautodl).

Issue 6, acceptance 3. A step is what AutoDL's DARTS-V1 search loop does per batch, weights first:

1. weight step: forward the train batch, cross-entropy, backward, clip the weight gradients at 5,
   SGD (Nesterov, lr 0.025, momentum 0.9, wd 5e-4);
2. architecture step: forward the val batch, cross-entropy, backward, Adam on alpha (3e-4,
   betas (0.5, 0.999), wd 1e-3).

Both sides see alpha with ``requires_grad`` in both steps (as in AutoDL, where alpha is a parameter of
the model); archscout gets ``weights=softmax(alpha)``. Default size: C=16, N=5, batch 32, 32x32, 10
classes, search-cell BN affine=False with running statistics. Both models are built in the same
process, with the same parameter count (checked), the xautodl weights copied into archscout's
supernet and the logits compared (a check that the two compute the same function). Steps alternate
A/B (the order flips every step) after a warm-up; the medians and their ratio are printed with a
PASS/FAIL line for ratio <= 1.0.

The reference is ``xautodl.models.cell_searchs.search_model_darts.TinyNetworkDarts`` from the
``xautodl`` package on PyPI (NB201's code). It is never a dependency of archscout: install it only
for this script, without its dependencies (its search models need torch only, not torchvision)::

    pip install --no-deps xautodl
    python benchmarks/supernet_step.py [--threads 2] [--steps 20] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from archscout.nn._supernet import NB201Supernet
from archscout.spaces._nb201 import NB201_EDGES, NB201_OPS


def load_reference():
    try:
        from xautodl.models.cell_searchs.search_cells import NAS201SearchCell
        from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts
    except ImportError as exc:  # pragma: no cover - depends on the benchmark environment
        raise SystemExit(f"error: the reference needs xautodl ({exc}); pip install --no-deps xautodl") from None
    return TinyNetworkDarts, NAS201SearchCell


class Side:
    """One model with its alpha, its two optimizers and a ``step(batch)``."""

    def __init__(self, name: str, model: nn.Module, weights: list[nn.Parameter], alpha: nn.Parameter,
                 forward: Callable[[torch.Tensor], torch.Tensor]):
        self.name, self.model, self.weights, self.alpha, self.forward = name, model, weights, alpha, forward
        self.w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)
        self.a_opt = torch.optim.Adam([alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.times: list[float] = []

    def step(self, batch) -> float:
        x_train, y_train, x_val, y_val = batch
        start = time.perf_counter()
        self.model.train()
        self.w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.forward(x_train), y_train).backward()
        nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.w_opt.step()
        self.a_opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.forward(x_val), y_val).backward()
        self.a_opt.step()
        elapsed = time.perf_counter() - start
        self.times.append(elapsed)
        return elapsed


def build_sides(C: int, N: int, num_classes: int, seed: int) -> tuple[Side, Side, str]:
    TinyNetworkDarts, _ = load_reference()
    torch.manual_seed(seed)
    ref = TinyNetworkDarts(C, N, 4, num_classes, list(NB201_OPS), False, True)
    b_side = Side("xautodl", ref, list(ref.get_weights()), ref.arch_parameters, lambda x: ref(x)[1])

    torch.manual_seed(seed)
    ours = NB201Supernet(C=C, N=N, num_classes=num_classes)
    alpha = nn.Parameter(ref.arch_parameters.detach().clone())  # same init: 1e-3 * N(0, 1)
    a_side = Side("archscout", ours, list(ours.parameters()), alpha, lambda x: ours(x, weights=alpha.softmax(-1)))
    try:
        check = copy_reference_weights(ref, ours)
    except Exception as exc:  # the supernet's internals may change; the timing stays valid
        check = f"skipped ({type(exc).__name__}: {exc})"
    return a_side, b_side, check


def copy_reference_weights(ref: nn.Module, ours: NB201Supernet) -> str:
    """Copy xautodl's weights and BN statistics into archscout's supernet; return a line comparing the
    logits of both."""
    copy_weights(ref, ours)
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    probs = ref.arch_parameters.detach().softmax(-1)
    ref.eval(), ours.eval()
    with torch.no_grad():
        diff = (ref(x)[1] - ours(x, weights=probs)).abs().max().item()
    # train mode (batch statistics): the gradient of the same loss with respect to alpha
    y = torch.arange(8) % 10
    ref.train(), ours.train()
    ref.arch_parameters.grad = None
    F.cross_entropy(ref(x)[1], y).backward()
    g_ref = ref.arch_parameters.grad.clone()
    ref.zero_grad(set_to_none=True)
    alpha = ref.arch_parameters.detach().clone().requires_grad_()
    F.cross_entropy(ours(x, weights=alpha.softmax(-1)), y).backward()
    ours.zero_grad(set_to_none=True)
    rel = ((alpha.grad - g_ref).norm() / g_ref.norm()).item()
    return (f"xautodl's weights copied into archscout: max |logits diff| = {diff:.1e} (eval), "
            f"relative |grad alpha diff| = {rel:.1e} (train)")


def copy_weights(ref: nn.Module, ours: NB201Supernet) -> None:
    """Copy the weights and BN statistics of an xautodl NB201 search model (DARTS or GDAS: the same
    skeleton) into archscout's supernet, whose search cells stack the convs of the edges leaving one node."""
    _, NAS201SearchCell = load_reference()
    from archscout.nn._supernet import EDGES_FROM, SearchCell

    kinds = {0: NB201_OPS.index("nor_conv_1x1"), 1: NB201_OPS.index("nor_conv_3x3")}
    with torch.no_grad():
        for rc, ac in zip(ref.cells, ours.cells, strict=True):
            if isinstance(rc, NAS201SearchCell):
                assert isinstance(ac, SearchCell)
                for src, edges in enumerate(EDGES_FROM):
                    for kind, op_id in kinds.items():
                        block = ac.convs[src][kind]
                        c = block.channels
                        for slot, e in enumerate(edges):
                            dst, s = NB201_EDGES[e]
                            conv, bn = rc.edges[f"{dst}<-{s}"][op_id].op[1], rc.edges[f"{dst}<-{s}"][op_id].op[2]
                            rows = slice(slot * c, (slot + 1) * c)
                            block.conv.weight[rows] = conv.weight
                            block.conv.bias[rows] = conv.bias
                            block.bn.running_mean[rows] = bn.running_mean
                            block.bn.running_var[rows] = bn.running_var
            else:
                _copy_in_order(rc, ac)
        for name in ("stem", "lastact", "classifier"):
            _copy_in_order(getattr(ref, name), getattr(ours, name))


def _copy_in_order(src: nn.Module, dst: nn.Module) -> None:
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b), (list(a), list(b))
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert va.shape == vb.shape and ka.rsplit(".", 1)[-1] == kb.rsplit(".", 1)[-1], (ka, kb)
        vb.copy_(va)


def make_batches(n: int, batch: int, size: int, num_classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch, 3, size, size, generator=g), torch.randint(num_classes, (batch,), generator=g),
         torch.randn(batch, 3, size, size, generator=g), torch.randint(num_classes, (batch,), generator=g))
        for _ in range(n)
    ]


def profile(side: Side, batch, steps: int = 3, rows: int = 15) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            side.step(batch)
    side.times.clear()
    events = prof.key_averages()
    print(f"\n--- profile: {side.name}, {steps} steps ---")
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows))
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    print(f"{side.name}: {calls / steps:,.0f} aten op calls per step (nested calls included; "
          "a measure of per-op overhead)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per side (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per side first (default 3)")
    parser.add_argument("--quick", action="store_true", help="5 timed steps after 1 warm-up step")
    parser.add_argument("--C", type=int, default=16)
    parser.add_argument("--N", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="print torch.profiler tables for both sides")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup = 5, 1
    torch.set_num_threads(args.threads)

    a, b, check = build_sides(args.C, args.N, args.classes, args.seed)
    pa, pb = (sum(p.numel() for p in s.weights) for s in (a, b))
    print(f"NB201 DARTS supernet step (weights + alpha, first order): C={args.C} N={args.N} batch={args.batch} "
          f"{args.size}x{args.size} classes={args.classes}; torch {torch.__version__}, {args.threads} threads, "
          f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"parameters: archscout {pa:,}  xautodl {pb:,}  ({'equal' if pa == pb else 'DIFFERENT'})")
    print(f"alpha: archscout {tuple(a.alpha.shape)}  xautodl {tuple(b.alpha.shape)}")
    print(f"check: {check}")

    batches = make_batches(4, args.batch, args.size, args.classes, args.seed)
    for i in range(args.warmup):
        for side in (a, b):
            side.step(batches[i % len(batches)])
    a.times.clear(), b.times.clear()
    for i in range(args.steps):
        order = (a, b) if i % 2 == 0 else (b, a)
        for side in order:
            side.step(batches[i % len(batches)])
        print(f"  step {i + 1:2d}/{args.steps}: archscout {a.times[-1] * 1e3:7.1f} ms  "
              f"xautodl {b.times[-1] * 1e3:7.1f} ms", flush=True)
    ma, mb = statistics.median(a.times), statistics.median(b.times)
    for side, m in ((a, ma), (b, mb)):
        print(f"{side.name:10} median {m * 1e3:8.1f} ms/step  (min {min(side.times) * 1e3:.1f}, "
              f"max {max(side.times) * 1e3:.1f}, {len(side.times)} steps)")
    ratio = ma / mb
    print(f"ratio archscout/xautodl = {ratio:.3f}")
    ok = ratio <= 1.0 and pa == pb
    print(f"{'PASS' if ok else 'FAIL'}: ratio <= 1.0 with equal parameter counts")
    if args.profile:
        profile(a, batches[0])
        profile(b, batches[0])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
