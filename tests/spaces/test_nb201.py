import random

import numpy as np
import pytest

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.hardware._tables import load_arrays
from archscout.spaces import get_space
from archscout.spaces._nb201_perm import NB201_PERM

FIXTURES = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    15624: "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|",
    11472: "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    9930: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}
UNIFORM = {"none": 1651, "skip_connect": 1835, "nor_conv_3x3": 1462, "nor_conv_1x1": 4317, "avg_pool_3x3": 7581}


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def uniform(op: str) -> str:
    return f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|"


def test_permutation_constant_is_pythons_seed_88_shuffle():
    perm = list(range(15625))
    random.seed(88)
    random.shuffle(perm)
    assert tuple(perm) == NB201_PERM
    assert NB201_PERM[:5] == (13931, 11791, 14874, 13126, 4032)


@pytest.mark.parametrize("index,text", FIXTURES.items())
def test_index_fixtures(space, index, text):
    assert space.to_str(space.from_index(index)) == text
    assert space.index(space.from_str(text)) == index


@pytest.mark.parametrize("op,index", UNIFORM.items())
def test_uniform_cells(space, op, index):
    assert space.index(space.from_str(uniform(op))) == index


def test_round_trip_all(space):
    seen = set()
    for i in range(15625):
        arch = space.from_index(i)
        text = space.to_str(arch)
        assert space._parse(text) == arch.ops  # the slow parser, not the lookup
        assert space.index(arch) == i
        seen.add(arch.ops)
    assert len(seen) == 15625
    assert np.array_equal(space.indices(space.from_index(i) for i in range(15625)), np.arange(15625))


def test_parse_accepts_index_string_and_ops(space):
    a = space.from_index(123)
    assert space.parse(123) == space.parse("123") == space.parse(FIXTURES[123]) == space.parse(list(a.ops)) == a
    assert str(a) == FIXTURES[123]


def test_disconnected(space):
    mask = space.disconnected_mask()
    assert mask.sum() == 341
    assert space.is_disconnected(space.from_str(uniform("none")))
    assert not space.is_disconnected(space.from_index(0))
    acc = load_arrays("nb201_accuracy.npz")
    for ds, chance in (("cifar10", 10.0), ("cifar100", 1.0), ("ImageNet16-120", 100 / 120)):
        assert np.allclose(acc[f"{ds}/test_acc"][mask], chance, atol=0.01)
        assert (acc[f"{ds}/test_acc"][~mask] > chance + 0.01).mean() > 0.99


def test_isomorphism_classes(space):
    classes = {space.canonical(space.from_index(i)) for i in range(15625)}
    assert len(classes) == 6466
    # swapping the two inputs of node 2's sum does not change the function
    a = space.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    b = space.from_str("|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    assert space.canonical(a) == space.canonical(b)
    assert space.canonical(a) != space.canonical(space.from_index(0))


def test_neighbours_mutate_sample_encode(space):
    arch = space.from_index(0)
    nbrs = space.neighbours(arch)
    assert len(nbrs) == 24 and len(set(nbrs)) == 24
    assert all(sum(x != y for x, y in zip(n.ops, arch.ops)) == 1 for n in nbrs)
    assert space.mutate(arch, 0) in nbrs
    assert space.sample(7) == space.sample(7)
    rng = np.random.default_rng(1)
    drawn = [space.sample(rng) for _ in range(200)]
    assert len(set(drawn)) > 150  # a generator's draws differ (15,625 archs)
    again = np.random.default_rng(1)
    assert [space.sample(again) for _ in range(200)] == drawn  # and its seed repeats them
    feats = space.encode(arch)
    assert feats.shape == (30,) and feats.sum() == 6 and feats[arch.ops[0]] == 1
    assert space.encode([arch, nbrs[0]]).shape == (2, 30)


@pytest.mark.parametrize("bad,match", [
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|", "3 node groups"),
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "node 2 needs 2"),
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~2|+|none~0|none~1|none~2|", "source 2"),
    ("|avg_pool_3x3|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|", "opname~source"),
    ("15625", "out of range; accepted: 0..15624"),
    ("-1", "out of range"),
])
def test_bad_strings(space, bad, match):
    with pytest.raises(InvalidArchError, match=match):
        space.parse(bad)


def test_bad_op_and_lengths(space):
    with pytest.raises(UnknownNameError, match="unknown nb201 op 'conv3'; choose from: .*nor_conv_3x3"):
        space.from_str(uniform("conv3"))
    with pytest.raises(InvalidArchError, match="has 5 positions, expected 6"):
        space.parse([0, 1, 2, 3, 4])
    with pytest.raises(InvalidArchError, match="choice 5 at position 0 is out of range"):
        space.parse([5, 0, 0, 0, 0, 0])
