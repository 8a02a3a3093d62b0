"""The NB201 tabular check: evolve per-edge op SETS where the ground truth is known.

The NB201 analogue of AutoSpace (algorithms.md §4, reconstructed; the tabular adaptation is this
project's): each of the 6 edges is a "layer" whose population is the 5 NB201 ops with a fitness each.
Per iteration, per edge, K distinct ops are drawn by tournament selection (size ``tour``) with mutation
(probability ``p_mut``: the winner is replaced by a uniformly random other op) and, with ``ref_anchor``,
the reference arch's op in slot 0. No supernet can be trained on a table, so the "training" of the
fitness logits ``a`` is a score-function (REINFORCE) gradient ascent of the expected reward of archs
drawn from the product of the per-edge softmax(a) over the sampled sets: ``queries_per_iter`` archs are
queried per iteration (valid accuracy from the NB201 table, the search never reads test accuracy),
reward = standardized valid accuracy minus ``latency_penalty`` x the relative excess over the latency
limit on ``device``. Then Eqn 5: ``f <- beta*f + (1-beta)*(a - mean a)``. The learned space keeps the
``top_k`` ops per edge by fitness.

``compare`` then runs random search (without replacement) with the same query budget in the learned and
in the full space and reports the test accuracy of the best feasible arch by valid accuracy, plus the
mean test accuracy of the random samples (and exact means over both spaces). The queries spent learning
the space are reported, and a second full-space figure gives the full space that extra budget.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archscout._io import atomic_write_json, read_json
from archscout._rundir import check_finite
from archscout.exceptions import ArchscoutError, InvalidArchError, UnknownNameError
from archscout.spaces import Arch, SearchSpace, get_space, register_instance
from archscout.spaces._nb201 import NB201_OPS

_POW5 = 5 ** np.arange(5, -1, -1)
NB201_FORMAT = "archscout.autospace.nb201-space/1"
RESNET_LIKE = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


@dataclass(frozen=True)
class TabularConfig:
    """Options of the tabular evolution (every [ASSUMPTION] of §4.3 adapted to a table is one here).

    Args:
        dataset: NB201 dataset of the table (cifar10, cifar100, ImageNet16-120).
        device: device of the latency limit (a ``<device>_latency`` column), "madds" for a MAdds limit (the
            table's MACs), or None for no limit.
        max_latency: latency limit in ms; None = the full space's median on ``device``.
        k_sample: K, ops sampled per edge per iteration.  top_k: ops per edge in the learned space.
        tour: tournament size.  p_mut: mutation probability of each tournament winner.
        ref_anchor: slot 0 of every edge is the reference arch's op.  reference: that arch (string/index).
        init: "reference" (the reference ops start at fitness ``ref_bonus``) or "random" (all 0, no anchor).
        iterations, queries_per_iter: evolution length and table queries per iteration.
        arch_lr, arch_steps: gradient steps on the logits per iteration (on the same queries).
        draw: how the queried archs are drawn from the sampled sets: "uniform" (importance-weighted
            gradient) or "policy" (from the product of softmax(a), on-policy).
        beta: fitness write-back factor (Eqn 5).
        latency_mode: "penalty" (reward -= latency_penalty x relative excess over the limit) or "reject" (an
            infeasible arch scores latency_penalty x the standardized worst valid accuracy of the table).
        seed: all random draws.
    """

    dataset: str = "cifar10"
    device: str | None = "raspi4"
    max_latency: float | None = None
    k_sample: int = 3
    top_k: int = 2
    tour: int = 2
    p_mut: float = 0.3
    ref_anchor: bool = False
    reference: str = RESNET_LIKE
    init: str = "random"
    ref_bonus: float = 0.0
    iterations: int = 20
    queries_per_iter: int = 10
    arch_lr: float = 1.0
    arch_steps: int = 1
    beta: float = 0.8
    latency_penalty: float = 0.5
    draw: str = "uniform"
    latency_mode: str = "penalty"
    seed: int = 0

    def __post_init__(self) -> None:
        check_finite(self)
        if not 1 <= self.top_k <= 5 or not 1 <= self.k_sample <= 5:
            raise ArchscoutError(f"k_sample and top_k must be 1..5 (NB201 has 5 ops), got {self.k_sample}, "
                                 f"{self.top_k}")
        for name in ("tour", "iterations", "queries_per_iter", "arch_steps"):
            if int(getattr(self, name)) < 1:
                raise ArchscoutError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.p_mut <= 1 or not 0 <= self.beta < 1:
            raise ArchscoutError(f"need 0 <= p_mut <= 1 and 0 <= beta < 1, got {self.p_mut}, {self.beta}")
        if self.latency_mode not in ("penalty", "reject"):
            raise UnknownNameError("latency mode", self.latency_mode, ("penalty", "reject"))
        if self.draw not in ("uniform", "policy"):
            raise UnknownNameError("draw", self.draw, ("uniform", "policy"))
        if self.init not in ("reference", "random"):
            raise UnknownNameError("init", self.init, ("reference", "random"))
        if self.max_latency is not None and not self.max_latency > 0:
            raise ArchscoutError(f"max_latency must be > 0 ms, got {self.max_latency}")


class NB201Table:
    """valid/test accuracy and latency of all 15,625 NB201 archs, addressed by generation index."""

    def __init__(self, dataset: str = "cifar10", device: str | None = "raspi4"):
        from archscout.hardware import get_cost_model

        bench = get_cost_model("nb201", dataset)
        space = get_space("nb201")
        gen = np.asarray(space.ops_table, dtype=np.int64) @ _POW5
        self.valid = np.empty(5 ** 6)
        self.test = np.empty(5 ** 6)
        self.valid[gen] = bench.column("valid_acc")
        self.test[gen] = bench.column("test_acc")
        self.latency = None
        self.device = device
        if device == "madds":  # a MAdds limit instead of a latency: the table's MACs (its "flops" column, in M)
            self.latency = np.empty(5 ** 6)
            self.latency[gen] = bench.column("flops") * 1e6
            self.metric = "madds"
        elif device is not None:
            metric = latency_metric(bench.metrics, device)
            self.latency = np.empty(5 ** 6)
            self.latency[gen] = bench.column(metric)
            self.metric = metric
        self.dataset = dataset

    @staticmethod
    def gen(ops: np.ndarray) -> np.ndarray:
        return np.asarray(ops, dtype=np.int64).reshape(-1, 6) @ _POW5


def latency_metric(metrics: tuple[str, ...], device: str) -> str:
    """The latency column of ``device`` among a cost model's metrics (``<d>_latency`` or ``<d>_latency_bs1``)."""
    for name in (f"{device}_latency", f"{device}_latency_bs1"):
        if name in metrics:
            return name
    devices = sorted({m.split("_latency")[0] for m in metrics if "_latency" in m})
    raise UnknownNameError("device with an NB201 latency table", device, devices)


# -- a learned NB201 space: per edge a subset of ops ----------------------------------------------------------
class NB201SubsetSpace(SearchSpace):
    """NB201 restricted to a subset of ops per edge (a learned NB201 space). Arch.ops are positions in the
    per-edge subsets; strings are NB201 strings; ``nb201_arch`` maps to the full space (index, table)."""

    def __init__(self, ops: list[list[int]], name: str = "nb201-learned"):
        if len(ops) != 6 or any(not o or len(set(o)) != len(o) or not all(0 <= x < 5 for x in o) for o in ops):
            raise ArchscoutError("a learned NB201 space needs, for each of the 6 edges, distinct op ids 0..4")
        self.name = name
        self.edge_ops = [list(map(int, o)) for o in ops]
        self.choices = tuple(len(o) for o in ops)

    @property
    def param_names(self) -> tuple[str, ...]:
        return get_space("nb201").param_names

    def nb201_ops(self, arch: Arch) -> tuple[int, ...]:
        return tuple(self.edge_ops[e][i] for e, i in enumerate(self.parse(arch).ops))

    def nb201_arch(self, arch: Arch) -> Arch:
        return get_space("nb201").make(self.nb201_ops(arch))

    def to_str(self, arch: Arch) -> str:
        return get_space("nb201").to_str(self.nb201_arch(arch))

    def from_str(self, text: str) -> Arch:
        full = get_space("nb201").parse(text)
        try:
            return Arch(self.name, tuple(self.edge_ops[e].index(o) for e, o in enumerate(full.ops)))
        except ValueError:
            raise InvalidArchError(f"{self.name}: {text!r} uses an op outside the learned sets "
                                   f"{self.describe()}") from None

    def parse(self, value: Any) -> Arch:
        if isinstance(value, Arch) and value.space == "nb201":
            return self.from_str(get_space("nb201").to_str(value))
        return super().parse(value)

    def all_archs(self) -> list[Arch]:
        return [Arch(self.name, ops) for ops in itertools.product(*(range(n) for n in self.choices))]

    def build(self, arch: Arch, **net_cfg: Any):
        return get_space("nb201").build(self.nb201_arch(arch), **net_cfg)

    def describe(self) -> str:
        return " ".join("{" + ",".join(NB201_OPS[o] for o in ops) + "}" for ops in self.edge_ops)

    def to_dict(self) -> dict[str, Any]:
        return {"base": "nb201", "edges": [[NB201_OPS[o] for o in ops] for ops in self.edge_ops]}


# -- the evolution ----------------------------------------------------------------------------------------
@dataclass
class TabularResult:
    space: NB201SubsetSpace
    fitness: np.ndarray  # (6, 5)
    queries: int
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    max_latency: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.space.to_dict(), "fitness": self.fitness.round(4).tolist(), "queries": self.queries,
                "max_latency": self.max_latency, "config": self.config, "history": self.history}


def _softmax(a: np.ndarray) -> np.ndarray:
    p = np.exp(a - a.max())
    return p / p.sum()


def _tournament(fit: np.ndarray, rng: np.random.Generator, tour: int, exclude: list[int]) -> int | None:
    pool = [o for o in range(len(fit)) if o not in exclude]
    if not pool:
        return None
    picks = rng.choice(pool, size=tour, replace=True)
    return int(max(picks, key=lambda o: fit[o]))


def evolve_nb201(config: TabularConfig | None = None, table: NB201Table | None = None) -> TabularResult:
    """Evolve per-edge op sets on the NB201 table (see the module docstring)."""
    c = config or TabularConfig()
    table = table or NB201Table(c.dataset, c.device)
    rng = np.random.default_rng(c.seed)
    limit = _limit(c, table)
    if limit is not None and not np.nanmin(table.latency) <= limit:  # a space none of whose archs fit
        unit, on = ("MAdds", "") if table.metric == "madds" else ("ms", f" on {table.metric}")
        fmt = lambda v: f"{v:,.0f}" if v >= 1000 else f"{v:.4g}"  # noqa: E731
        raise ArchscoutError(f"no arch of the NB201 space fits the limit {fmt(limit)} {unit}{on}; the smallest "
                             f"achievable is {fmt(float(np.nanmin(table.latency)))} {unit}: raise the limit")
    ref = np.asarray(get_space("nb201").parse(c.reference).ops)
    fit = np.zeros((6, 5))
    if c.init == "reference":
        fit[np.arange(6), ref] = c.ref_bonus
    v_mean, v_std = float(np.mean(table.valid)), float(np.std(table.valid))
    queries, history = 0, []
    for it in range(1, c.iterations + 1):
        sets = []
        for e in range(6):
            chosen = [int(ref[e])] if c.ref_anchor else []
            while len(chosen) < c.k_sample:
                op = _tournament(fit[e], rng, c.tour, chosen)
                if op is None:
                    break
                if rng.random() < c.p_mut:
                    others = [o for o in range(5) if o != op and o not in chosen]
                    if others:
                        op = int(rng.choice(others))
                chosen.append(op)
            sets.append(chosen)
        a = [fit[e, s].copy() for e, s in enumerate(sets)]  # logits start from the population fitness
        if c.draw == "policy":  # on-policy: archs drawn from the product of softmax(a) per edge
            picks = [rng.choice(len(s), size=c.queries_per_iter, p=_softmax(a[e])) for e, s in enumerate(sets)]
        else:  # uniform draws over the sampled sets, importance-weighted in the gradient
            picks = [rng.integers(len(s), size=c.queries_per_iter) for s in sets]
        ops = np.stack([np.asarray(s)[p] for s, p in zip(sets, picks)], axis=1)
        gen = NB201Table.gen(ops)
        reward = (table.valid[gen] - v_mean) / v_std
        if limit is not None:
            excess = np.maximum(0.0, table.latency[gen] / limit - 1.0)
            if c.latency_mode == "reject":  # an infeasible arch scores as the worst arch of the table
                reward = np.where(excess > 0, (table.valid.min() - v_mean) / v_std * c.latency_penalty, reward)
            else:
                reward = reward - c.latency_penalty * excess
        queries += c.queries_per_iter
        for _ in range(c.arch_steps):
            for e, s in enumerate(sets):
                p = np.exp(a[e] - a[e].max())
                p /= p.sum()
                # importance-weighted score-function gradient of E_p[reward] from the uniform draws
                w = p[picks[e]] * len(s) if c.draw == "uniform" else np.ones(len(picks[e]))
                onehot = np.eye(len(s))[picks[e]]
                base = float(np.sum(w * reward) / max(np.sum(w), 1e-12))
                grad = ((w * (reward - base))[:, None] * (onehot - p)).mean(0)
                a[e] = a[e] + c.arch_lr * grad
        for e, s in enumerate(sets):
            centred = a[e] - a[e].mean()
            fit[e, s] = c.beta * fit[e, s] + (1 - c.beta) * centred
        history.append({"iteration": it, "mean_valid": float(table.valid[gen].mean()),
                        "feasible": None if limit is None else float((table.latency[gen] <= limit).mean()),
                        "top": [[NB201_OPS[o] for o in np.argsort(-fit[e], kind="stable")[:c.top_k]]
                                for e in range(6)]})
    learned = [list(np.argsort(-fit[e], kind="stable")[:c.top_k].tolist()) for e in range(6)]
    return TabularResult(NB201SubsetSpace(learned), fit, queries, history, asdict(c), limit)


def _limit(c: TabularConfig, table: NB201Table) -> float | None:
    if c.device is None:
        return None
    return float(np.median(table.latency)) if c.max_latency is None else float(c.max_latency)


def save_nb201_space(result: TabularResult, path: str | Path | None = None, name: str | None = None) -> dict[str, Any]:
    """The file form of a learned NB201 space (written to ``path`` when given)."""
    d = {"format": NB201_FORMAT, "name": name or result.space.name, **result.to_dict()}
    if path is not None:
        atomic_write_json(path, d)
    return d


def load_nb201_space(path: str | Path, register: bool = True) -> NB201SubsetSpace:
    """A learned NB201 space from its file (registered under its name so ``get_space`` finds it)."""
    d = read_json(path, "learned NB201 space")
    if not isinstance(d, dict) or d.get("format") != NB201_FORMAT:
        raise ArchscoutError(f"{path} is not a learned NB201 space file")
    try:
        space = NB201SubsetSpace([[NB201_OPS.index(o) for o in ops] for ops in d["edges"]], name=d.get("name") or
                                 "nb201-learned")
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchscoutError(f"cannot read learned NB201 space {path}: {exc}") from None
    if register:
        register_instance(space)
    return space


# -- the comparison -----------------------------------------------------------------------------------------
def _random_search(gens: np.ndarray, budget: int, table: NB201Table, limit: float | None,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Random search without replacement over ``gens``: best feasible arch by valid accuracy."""
    pick = gens[rng.permutation(len(gens))[:budget]]
    feas = np.ones(len(pick), bool) if limit is None else table.latency[pick] <= limit
    out: dict[str, Any] = {"queries": int(len(pick)), "mean_test_random": float(table.test[pick].mean()),
                           "feasible_frac": float(feas.mean())}
    out["mean_test_random_feasible"] = float(table.test[pick][feas].mean()) if feas.any() else float("nan")
    if feas.any():
        best = pick[feas][int(np.argmax(table.valid[pick][feas]))]
        out.update(best_test=float(table.test[best]), best_valid=float(table.valid[best]),
                   best_latency=None if table.latency is None else float(table.latency[best]))
    else:
        out.update(best_test=float("nan"), best_valid=float("nan"), best_latency=None)
    return out


def compare(config: TabularConfig | None = None, *, seeds: tuple[int, ...] = (0, 1, 2), budget: int = 30,
            table: NB201Table | None = None) -> dict[str, Any]:
    """Evolve a learned NB201 space per seed and compare random search in it with the full space."""
    base = config or TabularConfig()
    table = table or NB201Table(base.dataset, base.device)
    full = np.arange(5 ** 6)
    rows = []
    for seed in seeds:
        c = TabularConfig(**{**asdict(base), "seed": seed})
        res = evolve_nb201(c, table)
        sp = res.space
        lgen = NB201Table.gen(np.array(list(itertools.product(*sp.edge_ops))))
        limit = res.max_latency
        rng = np.random.default_rng([seed, 7])
        row = {"seed": seed, "learned": sp.describe(), "evolution_queries": res.queries, "learned_size": len(lgen),
               "learned_rs": _random_search(lgen, budget, table, limit, np.random.default_rng([seed, 7])),
               "full_rs": _random_search(full, budget, table, limit, rng),
               "full_rs_plus": _random_search(full, budget + res.queries, table, limit,
                                              np.random.default_rng([seed, 8])),
               "exact_mean_test_learned": float(table.test[lgen].mean()),
               "exact_mean_test_full": float(table.test.mean())}
        if limit is not None:
            fl, ff = table.latency[lgen] <= limit, table.latency <= limit
            row["exact_feasible_frac_learned"], row["exact_feasible_frac_full"] = float(fl.mean()), float(ff.mean())
            row["exact_best_test_feasible_learned"] = float(table.test[lgen][fl][np.argmax(table.valid[lgen][fl])]) \
                if fl.any() else float("nan")
            row["oracle_best_test_feasible_full"] = float(table.test[ff][np.argmax(table.valid[ff])])
        rows.append(row)
    summary = {}
    summary["wins_best"] = int(sum(r["learned_rs"]["best_test"] > r["full_rs"]["best_test"] for r in rows))
    summary["wins_mean"] = int(sum(r["learned_rs"]["mean_test_random"] > r["full_rs"]["mean_test_random"]
                                   for r in rows))
    for key in ("learned_rs", "full_rs", "full_rs_plus"):
        for m in ("best_test", "mean_test_random", "mean_test_random_feasible", "feasible_frac"):
            vals = np.array([r[key][m] for r in rows], dtype=float)
            summary[f"{key}.{m}"] = (float(np.nanmean(vals)), float(np.nanstd(vals)))
    return {"config": asdict(base), "budget": budget, "max_latency": _limit(base, table),
            "latency_metric": getattr(table, "metric", None), "rows": rows, "summary": summary}


def format_comparison(result: dict[str, Any]) -> str:
    """A plain-text table of ``compare``'s result."""
    s = result["summary"]
    lines = [f"NB201 tabular check ({result['config']['dataset']}, latency limit {result['max_latency']:.2f} ms on "
             f"{result['latency_metric']}; random search, {result['budget']} queries; "
             f"{len(result['rows'])} seeds; test accuracy %, mean ± sd)",
             f"{'space':<38}{'best feasible':>16}{'mean random':>15}{'mean feasible':>15}{'feasible %':>12}"]
    names = {"learned_rs": "learned (top-k ops per edge)", "full_rs": "full NB201",
             "full_rs_plus": f"full NB201 (+{result['rows'][0]['evolution_queries']} evolution queries)"}
    for key, label in names.items():
        b, m, f = s[f"{key}.best_test"], s[f"{key}.mean_test_random"], s[f"{key}.feasible_frac"]
        mf = s[f"{key}.mean_test_random_feasible"]
        lines.append(f"{label:<38}{b[0]:>9.2f} ± {b[1]:<4.2f}{m[0]:>9.2f} ± {m[1]:<4.2f}{mf[0]:>9.2f} ± {mf[1]:<4.2f}"
                     f"{100 * f[0]:>9.1f}")
    lines.append(f"learned beats full (same budget) in {s['wins_best']}/{len(result['rows'])} seeds on the best "
                 f"feasible "
                 f"arch, {s['wins_mean']}/{len(result['rows'])} on the mean of the random samples")
    for r in result["rows"]:
        lines.append(f"  seed {r['seed']}: {r['learned']}  (exact mean test learned {r['exact_mean_test_learned']:.2f} "
                     f"vs full {r['exact_mean_test_full']:.2f})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(format_comparison(compare()))
    print(json.dumps(compare()["summary"], indent=1))
