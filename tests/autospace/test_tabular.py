"""NB201 tabular check: learned op sets beat the full space at equal query budget (ground truth known)."""

import numpy as np
import pytest

from archscout.autospace._tabular import NB201SubsetSpace, NB201Table, TabularConfig, compare, evolve_nb201
from archscout.exceptions import ArchscoutError, InvalidArchError, UnknownNameError


@pytest.fixture(scope="module")
def table():
    return NB201Table("cifar10", "raspi4")


def test_learned_space_beats_full_space_over_seeds(table):
    res = compare(TabularConfig(), seeds=tuple(range(6)), budget=30, table=table)
    s = res["summary"]
    assert s["learned_rs.mean_test_random"][0] > s["full_rs.mean_test_random"][0] + 2.0
    assert s["learned_rs.best_test"][0] > s["full_rs.best_test"][0]
    assert s["wins_mean"] == 6 and s["wins_best"] >= 4
    for r in res["rows"]:
        assert r["learned_rs"]["best_latency"] <= res["max_latency"]  # best feasible respects the limit


def test_evolution_is_seeded_and_sets_have_top_k(table):
    a = evolve_nb201(TabularConfig(seed=4, iterations=5), table)
    b = evolve_nb201(TabularConfig(seed=4, iterations=5), table)
    assert a.space.edge_ops == b.space.edge_ops and all(len(o) == 2 for o in a.space.edge_ops)
    assert a.queries == 50


def test_subset_space_is_a_search_space(table):
    sp = NB201SubsetSpace([[3, 2], [1, 2], [0, 2], [1, 3], [2, 0], [2, 3]])
    rng = np.random.default_rng(0)
    arch = sp.sample(rng)
    assert sp.from_str(sp.to_str(arch)) == arch and sp.mutate(arch, rng) in sp.neighbours(arch)
    assert sp.encode(arch).shape == (12,) and len(sp.all_archs()) == 64
    with pytest.raises(InvalidArchError, match="outside the learned sets"):
        sp.from_str("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ArchscoutError):
        NB201SubsetSpace([[0]] * 5)


def test_bad_options():
    with pytest.raises(UnknownNameError, match="device"):
        NB201Table("cifar10", "toaster")
    with pytest.raises(ArchscoutError, match="max_latency"):
        TabularConfig(max_latency=-1)
    with pytest.raises(ArchscoutError, match="k_sample"):
        TabularConfig(top_k=7)
