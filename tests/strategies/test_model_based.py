"""Model-based and neighbourhood strategies: NA-RS, BANANAS, guided LS, FOX-NAS, PNAS."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from archscout.exceptions import ArchscoutError
from archscout.hardware import get_cost_model
from archscout.spaces import Arch, SearchSpace, get_space
from archscout.strategies import History, create_strategy
from archscout.strategies._foxnas import InteractionFeatures, least_squares
from archscout.strategies._predictor import MLPEnsemble, arch_features, matmul, nb201_path_encoding

NB201 = get_space("nb201")
MINE = ["na-rs", "bananas", "guided-ls", "foxnas", "pnas"]


@lru_cache(maxsize=None)
def valid(dataset: str = "cifar10") -> np.ndarray:
    return get_cost_model("nb201", dataset).column("valid_acc")


def search(name: str, seed: int, budget: int, value=None, space: SearchSpace = NB201, **kwargs):
    """(archs queried, sampler, history) of a simulated run (every query answered at once)."""
    value = value or (lambda a: float(valid()[NB201.index(a)]))
    sampler = create_strategy(name, space, seed=seed, **kwargs)
    history = History(space)
    archs = []
    for _ in range(budget):
        arch = sampler.propose(history)
        archs.append(arch)
        history.add(arch, value(arch))
    return archs, sampler, history


# -- every strategy of this module ----------------------------------------------------------------
@pytest.mark.parametrize("name", MINE)
def test_seeded_and_never_repeats(name):
    archs = search(name, 0, 80)[0]
    assert len(set(archs)) == len(archs)
    assert search(name, 0, 80)[0] == archs
    assert search(name, 1, 80)[0] != archs


@pytest.mark.parametrize("name", MINE)
def test_beats_random_small_run(name):
    acc = valid("cifar100")

    def best(strategy: str, seed: int) -> float:
        archs = search(strategy, seed, 100, lambda a: float(acc[NB201.index(a)]))[0]
        return max(acc[NB201.index(a)] for a in archs)

    seeds = range(6)
    assert np.mean([best(name, s) for s in seeds]) > np.mean([best("random-noreplace", s) for s in seeds])


@pytest.mark.parametrize("name", MINE)
def test_pending_archs_are_not_proposed(name):
    _, sampler, history = search(name, 0, 30)
    for _ in range(5):
        history.pending.add(sampler.propose(history))
    assert len(history.pending) == 5 and not history.pending & {o.arch for o in history.observations}


# -- NA-RS ----------------------------------------------------------------------------------------
class Grid(SearchSpace):
    """3 positions x 4 ops: 64 archs, small enough to query them all."""

    name = "grid"
    choices = (4, 4, 4)

    def to_str(self, arch):
        return "".join(map(str, arch.ops))

    def from_str(self, text):
        return self.make(int(c) for c in text)

    def build(self, arch, **net_cfg):
        raise NotImplementedError


def planted(arch: Arch) -> float:
    """A sharp peak at 000 (neighbours at 0) and a flat plateau around 333 (0.9, neighbours 0.85)."""
    ops = arch.ops
    if ops == (0, 0, 0):
        return 1.0
    if ops == (3, 3, 3):
        return 0.9
    dist_peak, dist_flat = sum(o != 0 for o in ops), sum(o != 3 for o in ops)
    if dist_peak == 1:
        return 0.0
    if dist_flat == 1:
        return 0.85
    return 0.3 + 0.01 * sum(ops)


def test_na_rs_prefers_the_flat_optimum():
    grid = Grid()
    _, sampler, history = search("na-rs", 0, 64, planted, grid, m_nb=None, screen=0.0)
    assert len(history.taken) == 64
    with pytest.raises(ArchscoutError, match="exhausted"):  # drawing on makes every arch a centre
        sampler.propose(history)
    assert len(sampler._centres) == 64
    scores = history.scores()
    assert max(scores, key=scores.get).ops == (0, 0, 0)  # random search's answer: the sharp peak
    assert sampler.best(history).ops == (3, 3, 3)  # NA-RS's answer: the flat one
    mean, done, planned = sampler.neighbourhood_scores(history)[sampler.best(history)]
    assert done == planned == 10 and mean == pytest.approx((0.9 + 9 * 0.85) / 10)


def test_na_rs_walks_neighbourhoods():
    archs, sampler, history = search("na-rs", 0, 60, m_nb=None, screen=0.0)
    centres = list(sampler._centres)
    members = sampler._centres[centres[0]]
    assert members[0] == centres[0] and len(members) == 25  # r = 1 on NB201: 6 x 4 neighbours
    assert archs[:25] == members  # the first centre's neighbourhood is queried first, whole
    assert set(members[1:]) == set(NB201.neighbours(centres[0]))


def test_na_rs_subset_screen_and_dedup():
    _, sampler, history = search("na-rs", 0, 200, m_nb=5, screen=0.5, dedup=True)
    scores = history.scores()
    for centre, members in sampler._centres.items():
        assert len(members) <= 6 and members[0] == centre
        keys = [NB201.canonical(a) for a in members]
        assert len(set(keys)) == len(keys)  # no two members isomorphic
    expanded = [c for c, m in sampler._centres.items() if any(a in scores for a in m[1:])]
    assert 0 < len(expanded) < len(sampler._centres)  # the screen spares some neighbourhoods
    with pytest.raises(ArchscoutError, match="screen must be in"):
        create_strategy("na-rs", NB201, screen=1.0)


# -- BANANAS and guided LS ------------------------------------------------------------------------
def test_path_encoding_hand_case():
    none = nb201_path_encoding([(0, 0, 0, 0, 0, 0)])
    assert none.shape == (1, 84) and none.sum() == 0
    direct = nb201_path_encoding([(0, 0, 0, 3, 0, 0)])[0]  # only 3<-0 = nor_conv_3x3
    assert np.flatnonzero(direct).tolist() == [2]
    # 1<-0 skip, 3<-1 conv1x1, 2<-1 avg, 3<-2 conv3x3: paths (skip, c1), (skip, avg, c3)
    ops = (1, 0, 4, 0, 2, 3)
    feats = np.flatnonzero(nb201_path_encoding([ops])[0]).tolist()
    assert feats == [4 + 0 * 4 + 1, 20 + 0 * 16 + 3 * 4 + 2]
    both = arch_features(NB201, [Arch("nb201", ops)], "both")
    assert both.shape == (1, 30 + 84)


def test_matmul_blocks_and_ensemble_fit():
    rng = np.random.default_rng(0)
    a, b = rng.random((500, 70)), rng.random((70, 90))
    assert np.allclose(matmul(a, b), a @ b)
    x = (rng.random((200, 12)) < 0.5).astype(np.float32)
    y = x[:, 0] * 2 - x[:, 1] + x[:, 2] * x[:, 3]
    model = MLPEnsemble(12, rng, n_members=4, hidden=16).fit(x, y, 400, rng)
    pred = model.predict(x)
    assert pred.shape == (4, 200)
    assert np.corrcoef(pred.mean(axis=0), y)[0, 1] > 0.95


def test_guided_ls_climbs_like_ls():
    """Between jumps, guided LS queries a neighbour of LS's climb position."""
    _, sampler, history = search("guided-ls", 0, 60, jump_every=0)
    scores, taken = history.scores(), history.taken
    pos, fresh = sampler._positions.best(history)
    assert not any(scores.get(n, -1e9) > scores[pos] for n in NB201.neighbours(pos))
    assert sampler.propose(history) in fresh
    with pytest.raises(ArchscoutError, match="jump_every"):
        create_strategy("guided-ls", NB201, jump_every=-1)


# -- FOX-NAS --------------------------------------------------------------------------------------
def test_foxnas_features_hand_case():
    feats = InteractionFeatures((2, 3, 2), pairs=[(0, 1), (1, 2)])
    assert feats.n_features == 1 + 7 + 6 + 6
    x = feats(np.array([[1, 2, 0]]))[0]
    expect = np.zeros(20)
    expect[0] = 1  # intercept
    expect[1 + 1] = expect[1 + 2 + 2] = expect[1 + 2 + 3 + 0] = 1  # one-hot of 1, 2, 0
    expect[8 + 1 * 3 + 2] = 1  # pair (0, 1) = (1, 2)
    expect[14 + 2 * 2 + 0] = 1  # pair (1, 2) = (2, 0)
    assert x.tolist() == expect.tolist()
    assert InteractionFeatures((5,) * 6).n_features == 1 + 30 + 15 * 25
    assert InteractionFeatures((5,) * 6, pairs=()).n_features == 31
    with pytest.raises(ArchscoutError, match="not two distinct positions"):
        InteractionFeatures((2, 2), pairs=[(0, 0)])


def test_foxnas_least_squares_matches_numpy():
    rng = np.random.default_rng(1)
    feats = InteractionFeatures((3, 3, 4))
    ops = np.stack([rng.integers(c, size=80) for c in (3, 3, 4)], axis=1)
    y = rng.standard_normal(80)
    x = feats(ops)
    ridge = least_squares(feats, ops, y, ridge=2.0)
    assert np.allclose(ridge, np.linalg.solve(x.T @ x + 2.0 * np.eye(x.shape[1]), x.T @ y), atol=1e-6)
    ols = least_squares(feats, ops, y, ridge=0.0)  # rank-deficient: the minimum-norm solution
    assert np.allclose(x @ ols, x @ np.linalg.lstsq(x, y, rcond=None)[0], atol=1e-5)
    assert np.allclose(feats.lookup(ols, ops), x @ ols)


@pytest.mark.parametrize("accept", ["threshold", "metropolis"])
def test_foxnas_anneals_to_the_predicted_best(accept):
    """On an exactly linear objective the fitted model is exact and annealing finds its untaken best."""
    coef = np.random.default_rng(2).standard_normal(30)

    def linear(a: Arch) -> float:
        return float(NB201.encode(a) @ coef)

    archs, sampler, history = search("foxnas", 0, 40, linear, accept=accept, pairs=())
    best = tuple(int(np.argmax(coef[6 * 0 + 5 * i:5 * i + 5])) for i in range(6))
    assert Arch("nb201", best) in history.taken


# -- PNAS -----------------------------------------------------------------------------------------
def test_pnas_grows_active_edges():
    archs, sampler, _ = search("pnas", 0, 120, k=10)
    active = [sampler.active(a) for a in archs]
    assert active[:9] == [1] * 9  # level 1: every 1-edge cell, one per isomorphism class
    first_done = next(i for i in range(len(archs)) if active[i] == 6)
    assert max(active[:9 + 10]) <= 3 and active[first_done] == 6
    growth = [max(active[:i + 1]) for i in range(len(active))]
    assert growth == sorted(growth) and growth[-1] == 6
    assert sampler.done  # then local refinement, still no repeats (checked above)
    for parent in archs[9:12]:
        own = NB201.canonical(parent)
        assert all(NB201.canonical(c) != own and sampler.active(c) > sampler.active(parent)
                   for c in sampler.grow(parent))


def test_regression_targets_put_infeasible_archs_below():
    from archscout.strategies._predictor import regression_targets

    archs = [NB201.from_index(i) for i in range(5)]
    history = History(NB201)
    history.add(archs[0], 1.0, violation=2.0)
    history.add(archs[1], 2.0, violation=0.5)
    assert regression_targets(history, history.scores())[1].tolist() == [-2.0, -0.5]  # none feasible
    for a, v in zip(archs[2:], (50.0, 60.0, 70.0)):
        history.add(a, v, violation=0.1 if v == 70.0 else 0.0)
    got, y = regression_targets(history, history.scores())
    target = dict(zip(got, y.tolist()))
    assert [target[a] for a in archs[2:4]] == [50.0, 60.0]  # feasible archs keep their scores
    infeasible = [archs[0], archs[1], archs[4]]  # violations 2.0, 0.5, 0.1
    assert max(target[a] for a in infeasible) < 50.0  # below the worst feasible score
    assert target[archs[0]] < target[archs[1]] < target[archs[4]]  # the most violating lowest


@pytest.mark.parametrize("name", MINE)
def test_runs_with_a_constraint(name):
    """A fifth of the space violates a constraint (3<-0 = nor_conv_3x3): the searches run and find feasible archs."""
    acc = valid()
    sampler = create_strategy(name, NB201, seed=0)
    history = History(NB201)
    for _ in range(60):
        arch = sampler.propose(history)
        history.add(arch, float(acc[NB201.index(arch)]), violation=float(arch.ops[3] == 3))
    assert sum(o.feasible for o in history.observations) >= 30


@pytest.mark.parametrize("name", MINE)
def test_fbnet(name):
    """A space too large to enumerate or to code archs as int64 (9**22 archs): runs, never repeats."""
    fbnet = get_space("fbnet")
    weights = np.random.default_rng(0).random((22, 9))

    def value(a: Arch) -> float:
        return float(weights[np.arange(22), a.ops].sum())

    archs = search(name, 0, 30, value, fbnet)[0]
    assert len(set(archs)) == 30 and all(fbnet.make(a.ops) == a for a in archs)
