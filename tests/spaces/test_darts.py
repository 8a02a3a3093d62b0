"""DARTS cell space: strings, genotypes, DARTS repr parsing, canonical form, size, search moves, errors."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from archscout.exceptions import InvalidArchError
from archscout.spaces._base import Arch, get_space
from archscout.spaces._darts import (
    DARTS_V1,
    DARTS_V2,
    GENOTYPES,
    NASOOD_ONESTAGE,
    PRIMITIVES,
    DartsSpace,
    Genotype,
)
from helpers import one_line

DARTS_V2_STR = (
    "normal=sep_conv_3x3~0+sep_conv_3x3~1,sep_conv_3x3~0+sep_conv_3x3~1,"
    "sep_conv_3x3~1+skip_connect~0,skip_connect~0+dil_conv_3x3~2"
    "/reduce=max_pool_3x3~0+max_pool_3x3~1,skip_connect~2+max_pool_3x3~1,"
    "max_pool_3x3~0+skip_connect~2,skip_connect~2+max_pool_3x3~1"
)
# DARTS_V2 as the DARTS code prints it (lists, concat as range), pasted by a user.
DARTS_V2_REPR = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))"
)


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return get_space("darts")


def test_registered_and_layout(space):
    assert isinstance(space, DartsSpace) and space.name == "darts"
    assert PRIMITIVES == ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                          "dil_conv_3x3", "dil_conv_5x5")
    assert "none" not in PRIMITIVES
    cell = (7, 2, 7, 2, 7, 3, 7, 3, 7, 4, 7, 4, 7, 5, 7, 5)
    assert space.choices == cell + cell
    names = space.param_names
    assert len(names) == 32 and len(set(names)) == 32
    assert names[:5] == ("normal_n0_e0_op", "normal_n0_e0_in", "normal_n0_e1_op", "normal_n0_e1_in", "normal_n1_e0_op")
    assert names[16] == "reduce_n0_e0_op" and names[-1] == "reduce_n3_e1_in"


def test_size_formula(space):
    per_cell_genotypes = math.prod(math.comb(2 + i, 2) * 49 for i in range(4))  # unordered input pairs
    assert space.num_genotypes == per_cell_genotypes**2
    assert space.size == (2**4 * per_cell_genotypes) ** 2  # an arch keeps edge order: 2 orders per node
    # Brute force over one cell's input positions (the op positions are free: 7**8), through is_valid.
    base = list(space.from_genotype(DARTS_V2).ops)
    in_pos = [p for p in range(16) if p % 2 == 1]
    valid = ordered = 0
    for inputs in itertools.product(*(range(space.choices[p]) for p in in_pos)):
        ops = base.copy()
        for p, v in zip(in_pos, inputs):
            ops[p] = v
        if space.is_valid(tuple(ops)):
            valid += 1
            ordered += all(inputs[2 * n] < inputs[2 * n + 1] for n in range(4))
    assert valid * 7**8 == math.isqrt(space.size)
    assert ordered * 7**8 == math.isqrt(space.num_genotypes)


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_genotype_round_trips(space, name):
    g = GENOTYPES[name]
    arch = space.from_genotype(g)
    assert space.to_genotype(arch) == g
    assert space.from_str(space.to_str(arch)) == arch
    assert space.from_str(repr(g)) == arch  # our Genotype's repr (tuples)
    assert space.from_str(name) == space.from_str(name.lower()) == arch
    assert space.parse(g) == arch and space.parse(space.to_str(arch)) == arch
    assert str(arch) == space.to_str(arch)


def test_known_string_and_darts_repr(space):
    arch = space.from_genotype(DARTS_V2)
    assert space.to_str(arch) == DARTS_V2_STR
    assert space.from_str(DARTS_V2_REPR) == arch
    # positional fields, lists as concat, a module prefix, and DARTS's own namedtuple all work
    positional = DARTS_V2_REPR.replace("normal=", "").replace("normal_concat=", "").replace("reduce=", "")
    positional = positional.replace("reduce_concat=", "").replace("range(2, 6)", "[2, 3, 4, 5]")
    assert space.from_str("genotypes." + positional) == arch
    from collections import namedtuple

    DartsGenotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    theirs = DartsGenotype(list(DARTS_V2.normal), range(2, 6), list(DARTS_V2.reduce), range(2, 6))
    assert space.from_genotype(theirs) == arch and space.parse(theirs) == arch


def test_string_tolerates_spacing(space):
    arch = space.from_genotype(DARTS_V2)
    spaced = DARTS_V2_STR.replace("/", " / ").replace(",", ", ").replace("+", " + ").replace("~", " ~ ")
    assert space.from_str(spaced) == arch
    assert space.from_str(DARTS_V2_STR.replace("/", " ")) == arch
    assert space.from_str(DARTS_V2_STR.replace("/", ";")) == arch


def test_genotype_values():
    assert DARTS_V2.normal[:2] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert DARTS_V2.normal[-1] == ("dil_conv_3x3", 2)
    assert DARTS_V2.reduce[-2:] == (("skip_connect", 2), ("max_pool_3x3", 1))
    assert DARTS_V1.reduce[-1] == ("avg_pool_3x3", 0)
    assert NASOOD_ONESTAGE.normal[4] == ("avg_pool_3x3", 3)
    for g in GENOTYPES.values():
        assert isinstance(g, Genotype) and g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


def test_canonical(space):
    arch = space.from_genotype(DARTS_V2)
    canon = space.canonical(arch)
    assert canon != arch  # normal node 2 is (sep_conv_3x3~1, skip_connect~0) in DARTS's order
    assert space.to_genotype(canon).normal[4:6] == (("skip_connect", 0), ("sep_conv_3x3", 1))
    assert space.canonical(canon) == canon
    assert space.canonical(space.to_str(arch)) == canon
    # every edge swap of every node gives the same canonical arch and string
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = space.sample(rng)
        ops = list(a.ops)
        for node in rng.choice(8, size=int(rng.integers(1, 9)), replace=False):
            p = 4 * int(node)
            ops[p : p + 4] = ops[p + 2 : p + 4] + ops[p : p + 2]
        b = space.make(ops)
        assert space.canonical(a) == space.canonical(b)
        assert space.to_str(space.canonical(a)) == space.to_str(space.canonical(b))
        c = space.canonical(a).ops
        assert all(c[p + 1] < c[p + 3] for p in range(0, 32, 4))


def test_sample_is_valid_and_reproducible(space):
    archs = [space.sample(s) for s in range(200)]
    assert all(isinstance(a, Arch) and a.space == "darts" and space.is_valid(a.ops) for a in archs)
    assert all(0 <= o < n for a in archs for o, n in zip(a.ops, space.choices))
    assert space.sample(7) == space.sample(7)
    assert len(set(archs)) == len(archs)
    ops = np.array([a.ops for a in archs])
    assert set(ops[:, 0]) == set(range(7))  # every op shows up
    assert set(ops[:, 29]) | set(ops[:, 31]) == set(range(5))  # reduce node 3 reads all 5 states


def test_neighbours_and_mutate(space):
    arch = space.from_genotype(DARTS_V2)
    nbrs = space.neighbours(arch)
    # op positions: 16 x 6; input positions of node i: i alternatives (not itself, not the other edge's)
    assert len(nbrs) == 16 * 6 + 2 * 2 * (0 + 1 + 2 + 3)
    assert len(set(nbrs)) == len(nbrs)
    for n in nbrs:
        assert space.is_valid(n.ops)
        assert sum(x != y for x, y in zip(n.ops, arch.ops)) == 1
        space.make(n.ops)
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = space.mutate(arch, rng)
        assert m in nbrs


def test_encode(space):
    archs = [space.sample(s) for s in range(5)]
    x = space.encode(archs[0])
    assert x.shape == (sum(space.choices),) == (168,)
    assert x.sum() == 32
    X = space.encode(archs)
    assert X.shape == (5, 168) and np.array_equal(X[0], x)


def test_errors(space):
    good = DARTS_V2_STR
    with pytest.raises(InvalidArchError, match=r"unknown op 'sep_conv_7x7'.*sep_conv_3x3"):
        space.from_str(good.replace("dil_conv_3x3", "sep_conv_7x7"))
    with pytest.raises(InvalidArchError, match=r"unknown op 'none'.*max_pool_3x3"):
        space.from_genotype(DARTS_V2._replace(normal=(("none", 0),) + DARTS_V2.normal[1:]))
    with pytest.raises(InvalidArchError, match=r"'normal' has 3 nodes"):
        space.from_str(good.replace(",skip_connect~0+dil_conv_3x3~2", ""))
    with pytest.raises(InvalidArchError, match=r"3 edges"):
        space.from_str(good.replace("dil_conv_3x3~2", "dil_conv_3x3~2+skip_connect~1"))
    with pytest.raises(InvalidArchError, match=r"reads input 1 on both edges"):
        space.from_str(good.replace("sep_conv_3x3~0+sep_conv_3x3~1", "sep_conv_3x3~1+sep_conv_3x3~1", 1))
    with pytest.raises(InvalidArchError, match=r"input 2 of normal node 0 is not valid; accepted: 0..1"):
        space.from_str(good.replace("sep_conv_3x3~1", "sep_conv_3x3~2", 1))
    with pytest.raises(InvalidArchError, match=r"'op_name~input'"):
        space.from_str(good.replace("sep_conv_3x3~0", "sep_conv_3x3", 1))
    with pytest.raises(InvalidArchError, match=r"cannot parse 'hello'.*DARTS_V2"):
        space.from_str("hello")
    with pytest.raises(InvalidArchError, match=r"normal_concat .* not supported"):
        space.from_str(DARTS_V2_REPR.replace("normal_concat=range(2, 6)", "normal_concat=[4, 5]"))
    with pytest.raises(InvalidArchError, match=r"'reduce_concat' is missing"):
        space.from_str(DARTS_V2_REPR.replace(", reduce_concat=range(2, 6)", ""))
    with pytest.raises(InvalidArchError, match=r"'reduce' has 7 edges"):
        space.from_genotype(DARTS_V2._replace(reduce=DARTS_V2.reduce[:7]))
    # op vectors
    ops = list(space.from_genotype(DARTS_V2).ops)
    with pytest.raises(InvalidArchError, match=r"31 positions, expected 32"):
        space.make(ops[:31])
    with pytest.raises(InvalidArchError, match=r"out of range; accepted: 0..6"):
        space.make([7] + ops[1:])
    bad = ops.copy()
    bad[3] = bad[1]
    with pytest.raises(InvalidArchError, match=r"normal node 0 reads input \d on both edges"):
        space.make(bad)
    assert not space.is_valid(tuple(bad))
    # every message is one line
    for text in ("hello", good.replace("sep_conv_3x3", "sepconv"), "Genotype(normal=[(1, 2)"):
        one_line(InvalidArchError, lambda: space.from_str(text))


def test_importing_the_space_leaves_torch_networks_out():
    code = "import sys, archscout.spaces._darts; assert 'archscout.nn._darts' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_huge_or_calling_genotype_text_is_refused_quickly_in_a_short_line(space):
    import time

    v2 = DARTS_V2_REPR
    huge = v2.replace("normal_concat=range(2, 6)", "normal_concat=range(2, 10**10)")
    assert huge != v2 and "10**10" in huge
    cases = (
        (v2.replace("range(2, 6)", "range(2, 9999999999)", 1),
         "normal_concat range(2, 9999999999, 1) is not supported"),
        (huge, "not a range of ints"),
        (v2.replace("range(2, 6)", "list(range(2, 6))", 1), "normal_concat calls list(...)"),
        (v2.replace("normal=[", "normal=[x.y() for x in []] or [", 1), "normal is not a literal list"),
        (v2 + " " * 5000, "characters; at most 4,096"),
        ("Genotype(normal=" + "[" * 3000 + "]" * 3000 + ")", "at most 4,096"),
        ("x" * 10 ** 7, "has 10,000,000 characters; at most 4,096"),
    )
    for text, message in cases:
        start = time.perf_counter()
        msg = one_line(InvalidArchError, lambda: space.parse(text), message)
        assert len(msg) < 400 and time.perf_counter() - start < 1.0, (message, len(msg))
    assert space.parse(v2.replace("range(2, 6)", "[2, 3, 4, 5]")) == space.parse(v2)  # a list is fine


def test_a_genotype_object_with_a_huge_concat_is_refused_without_building_it(space):
    g = GENOTYPES["DARTS_V2"]._replace(normal_concat=range(2, 10 ** 12))
    msg = one_line(InvalidArchError, lambda: space.parse(g), "normal_concat range(2, 1000000000000) is not supported")
    assert len(msg) < 200
