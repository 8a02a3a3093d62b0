"""GDAS at the cpu profile: archscout against NB201's own GDAS search model (xautodl), same data and schedule.

Issue 6 asks that GDAS not collapse. At the cpu profile it does (``oneshot_nb201.py``); this script
checks whether that is archscout's doing or GDAS's at this size:

1. **Same function.** xautodl's ``TinyNetworkGDAS`` and archscout's supernet, with xautodl's weights
   copied in, in float64, given the same Gumbel noise: the logits and the gradient of the loss with
   respect to alpha are compared (one batch, train mode).
2. **Same search.** For each seed, archscout's GDAS (``get_method("gdas")``, cpu profile) and
   xautodl's model driven by the loop of algorithms.md §6 (weight step with SGD and clipping, then an
   alpha step with Adam, a fresh Gumbel sample in each forward, tau linear per epoch, the same
   halves, batch order, augmentation and per-epoch cosine learning rate). Both derived cells are
   looked up in the NB201 table (CIFAR-10 test accuracy; "collapsed" as in ``oneshot_nb201.py``).

The reference is ``xautodl.models.cell_searchs.search_model_gdas.TinyNetworkGDAS`` (NB201's code, on
PyPI). It is never a dependency of archscout: ``pip install --no-deps xautodl``.

Usage: ``python benchmarks/gdas_reference.py [--seeds 3] [--suite fmnist-shift --split style]
[--epochs E --batch-size B --all-images] [--set KEY=VALUE ...]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oneshot_nb201 import add_profile_args, check_overrides, describe, profile_overrides
from supernet_step import copy_weights

from archscout.data import load_split
from archscout.nn._supernet import NB201Supernet
from archscout.oneshot import get_method, get_profile
from archscout.oneshot._base import entropy, prepare
from archscout.oneshot._gdas import GDAS, gumbel_straight_through
from archscout.spaces import get_space
from archscout.spaces._nb201 import NB201_OPS
from archscout.train._augment import augment
from archscout._rundir import epoch_generator


def reference_class():
    try:
        from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS
    except ImportError as exc:  # pragma: no cover - depends on the benchmark environment
        raise SystemExit(f"error: the reference needs xautodl ({exc}); pip install --no-deps xautodl") from None
    return TinyNetworkGDAS


def same_function(C: int, N: int, num_classes: int, size: int, tau: float = 2.0) -> str:
    """Logits and alpha gradient of both models on one batch with the same weights and Gumbel noise."""
    torch.manual_seed(0)
    ref = reference_class()(C, N, 4, num_classes, list(NB201_OPS), False, True).double()
    ours = NB201Supernet(C, N, num_classes).double()
    copy_weights(ref, ours)
    with torch.no_grad():  # alpha away from uniform, so that the sample is not a coin toss
        ref.arch_parameters.copy_(torch.randn(ref.arch_parameters.shape, dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, size, size, generator=g, dtype=torch.float64)
    y = torch.randint(num_classes, (16,), generator=g)
    ref.train(), ours.train()
    ref.set_tau(tau)
    torch.manual_seed(7)  # xautodl draws its Gumbel noise from the global generator
    logits_ref = ref(x)[1]
    F.cross_entropy(logits_ref, y).backward()
    alpha = ref.arch_parameters.detach().clone().requires_grad_()
    weights, index = gumbel_straight_through(alpha, tau, torch.Generator().manual_seed(7))
    logits = ours(x, weights=weights, index=index)
    F.cross_entropy(logits, y).backward()
    g_ref = ref.arch_parameters.grad
    return (f"same weights and Gumbel noise, float64: ops drawn {index.tolist()}; max |logits diff| "
            f"{(logits - logits_ref).abs().max().item():.1e}; relative |grad alpha diff| "
            f"{((alpha.grad - g_ref).norm() / g_ref.norm()).item():.1e}")


def reference_search(halves, config, seed: int) -> tuple[np.ndarray, float]:
    """xautodl's GDAS model trained by the §6 loop on archscout's halves; (softmax(alpha), seconds)."""
    torch.manual_seed(seed)
    net = reference_class()(config.C, config.N, 4, halves.num_classes, list(NB201_OPS), False, True)
    weights = list(net.get_weights())
    w_opt = torch.optim.SGD(weights, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                            nesterov=config.nesterov)
    a_opt = torch.optim.Adam([net.arch_parameters], lr=config.arch_lr, betas=config.arch_betas,
                             weight_decay=config.arch_weight_decay)
    start = time.perf_counter()
    b = min(config.batch_size, len(halves.y_w), len(halves.y_a))
    for epoch in range(1, config.epochs + 1):
        lr = config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
        for group in w_opt.param_groups:
            group["lr"] = lr
        net.set_tau(GDAS.tau(config, epoch))
        gen = epoch_generator(seed, epoch)
        ow, oa = torch.randperm(len(halves.y_w), generator=gen), torch.randperm(len(halves.y_a), generator=gen)
        net.train()
        for s in range(min(len(ow), len(oa)) // b):
            iw, ia = ow[s * b:(s + 1) * b], oa[s * b:(s + 1) * b]
            xw, xa = (augment(x, config.crop_padding, config.flip, gen) for x in (halves.x_w[iw], halves.x_a[ia]))
            w_opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xw)[1], halves.y_w[iw]).backward()
            nn.utils.clip_grad_norm_(weights, config.grad_clip)
            w_opt.step()
            a_opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xa)[1], halves.y_a[ia]).backward()
            a_opt.step()
    return net.arch_parameters.detach().softmax(-1).double().numpy(), time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--suite", default="fmnist-shift")
    p.add_argument("--split", default="style")
    add_profile_args(p)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = profile_overrides(args)
    check_overrides(p, ["gdas"], overrides)
    base = get_profile("gdas", "cpu", **overrides)
    data = load_split(args.suite, args.split, seed=0, size=base.image_size)
    print(f"GDAS, NB201 space, {args.suite} / {args.split}, cpu profile (C={base.C} N={base.N} "
          f"{base.image_size}x{base.image_size}, {base.epochs} epochs, batch {base.batch_size}, images "
          f"{base.train_images or 'all'} + {base.val_images or 'all'}), {args.seeds} seeds")
    print("check:", same_function(base.C, base.N, data.num_classes, base.image_size))
    sp = get_space("nb201")
    print(f"{'seed':>4s} {'model':9s} {'search s':>8s} {'entropy':>7s} {'c10':>6s} {'convs':>5s}  arch")
    rows: dict[str, list[dict]] = {"archscout": [], "xautodl": []}
    for seed in range(args.seeds):
        config = get_profile("gdas", "cpu", **{"seed": seed, "threads": args.threads, **overrides})
        result = get_method("gdas").search("nb201", data, config)
        ref_probs, ref_seconds = reference_search(prepare(data, config), config, seed)
        ref_arch = sp.make(ref_probs.argmax(-1).tolist())
        for name, probs, seconds, arch in (
                ("archscout", result.distribution, result.seconds, result.arch),
                ("xautodl", ref_probs, ref_seconds, ref_arch)):
            d = describe(sp.index(arch), "raspi4")
            rows[name].append(d)
            print(f"{seed:4d} {name:9s} {seconds:8.0f} {entropy(torch.as_tensor(probs)):7.3f} "
                  f"{d['acc']['cifar10']:6.2f} {d['convs']:5d}  {sp.to_str(arch)}"
                  f"{'  [collapsed]' if d['collapsed'] else ''}", flush=True)
    print("\nmean ± std over seeds (CIFAR-10 accuracy of the derived cell), collapsed seeds")
    for name, ds in rows.items():
        acc = [d["acc"]["cifar10"] for d in ds]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(f"{name:9s} {statistics.fmean(acc):6.2f} ± {sd:5.2f}  collapsed {sum(d['collapsed'] for d in ds)}/{len(ds)}")


if __name__ == "__main__":
    main()
