"""Prior-ranked search: archs proposed best-first under a prior score, each isomorphism class once.

The prior is a table over an enumerable space (NB201: the CIFAR-10 validation accuracy of NB201's
200-epoch runs, or any score array a caller passes), restricted to the archs a search may train
(``allowed``: within a latency budget, output connected to the input). Combined with a training
evaluator and its successive-halving rungs, it is multi-fidelity search seeded by a prior: the
prior picks which archs get trained, training on the user's data picks among them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from archscout.exceptions import ArchscoutError, UnknownNameError
from archscout.spaces import Arch, SearchSpace
from archscout.strategies._base import ArchSampler, register_strategy
from archscout.strategies._history import History

PRIORS = ("nb201-cifar10", "params")


def prior_scores(space: SearchSpace, prior: str) -> np.ndarray:
    """A prior's score of every arch of an enumerable space (higher is better)."""
    from archscout.hardware import get_cost_model

    if space.name != "nb201":
        raise ArchscoutError(f"prior {prior!r} needs NB201's tables; space {space.name!r} has none")
    bench = get_cost_model("nb201", "cifar10")
    if prior == "nb201-cifar10":
        return np.asarray(bench.column("valid_acc"), dtype=np.float64)
    if prior == "params":
        return np.asarray(bench.column("params"), dtype=np.float64)
    raise UnknownNameError("prior", prior, PRIORS)


def prior_order(space: SearchSpace, scores: np.ndarray, allowed: np.ndarray | None = None,
                seed: int | None = None) -> list[int]:
    """Indices of ``allowed`` archs, best score first, one per isomorphism class (its best member),
    disconnected cells left out; ties broken by index, or at random with a ``seed``."""
    ok = np.isfinite(scores) & ~space.disconnected_mask()
    if allowed is not None:
        ok &= np.asarray(allowed, dtype=bool)
    tie = np.arange(len(scores)) if seed is None else np.random.default_rng([seed, 3]).permutation(len(scores))
    out, seen = [], set()
    for i in sorted(np.flatnonzero(ok).tolist(), key=lambda i: (-scores[i], tie[i])):
        key = space.canonical(space.from_index(i))
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


@register_strategy("prior")
class PriorSampler(ArchSampler):
    """Proposes the best-scored arch not yet in the study (see the module docstring).

    Args:
        prior: ``nb201-cifar10`` (default) or ``params``; or ``scores``, one value per arch index.
        allowed: archs the search may propose (a boolean mask or a list of indices); None: all.
    """

    deterministic = True  # the same order for every seed (the seed only breaks ties of the prior)

    def __init__(self, space: SearchSpace, seed: int | None = None, prior: str = "nb201-cifar10",
                 scores: Sequence[float] | None = None, allowed: Sequence[int] | Sequence[bool] | None = None):
        super().__init__(space, seed)
        if space.size is None or not hasattr(space, "disconnected_mask"):
            raise ArchscoutError(f"strategy 'prior' needs an enumerable NB201-like space, not {space.name!r}")
        values = prior_scores(space, prior) if scores is None else np.asarray(scores, dtype=np.float64)
        mask = None
        if allowed is not None:
            allowed = np.asarray(allowed)
            mask = allowed if allowed.dtype == bool else np.isin(np.arange(space.size), allowed)
        self.order = prior_order(space, values, mask, seed)  # the seed breaks ties
        if not self.order:
            raise ArchscoutError("strategy 'prior': no allowed, connected architecture to propose")

    def propose(self, history: History) -> Arch:
        taken = history.taken
        for i in self.order:
            arch = self.space.from_index(i)
            if arch not in taken:
                return arch
        raise ArchscoutError(f"strategy 'prior' is exhausted: all {len(self.order)} allowed architectures are in "
                             "the study")
