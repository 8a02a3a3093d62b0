"""Cells: canonical identity, valid mutants, strings, MAdds against archscout's counter."""

import numpy as np
import pytest

from archscout.autospace._cells import (CELL_OPS, MUTATIONS, REFERENCE_CELL, Cell, mutate_cell, mutations,
                                         random_cell)
from archscout.exceptions import InvalidArchError


def test_reference_is_an_mbconv_and_round_trips():
    r = REFERENCE_CELL
    assert r.describe() == "0-dw3x3->1 1-identity->3"
    assert Cell.from_str(r.to_str()) == r and r.canonical() == r


def test_canonical_drops_dead_edges_and_swaps_nodes():
    ops = {n: i for i, n in enumerate(CELL_OPS)}
    a = Cell((ops["dw3x3"], 0, 0, 0, ops["identity"], 0))  # via node 1
    b = Cell((0, ops["dw3x3"], 0, 0, 0, ops["identity"]))  # the same through node 2
    dead = Cell((ops["dw3x3"], 0, ops["conv1x1"], 0, ops["identity"], 0))  # 1->2 leads nowhere
    assert a.key() == b.key() == dead.key() and a.hash() == b.hash()
    merged = Cell((ops["identity"], 0, 0, ops["identity"], ops["dw3x3"], 0), (0, 0, 1))
    assert merged.key() != Cell(merged.edges, (0, 0, 0)).key()  # merge mode matters with 2 inputs
    single = Cell((ops["dw3x3"], 0, 0, 0, ops["identity"], 0), (1, 1, 1))
    assert single.key() == a.key()  # and not with one


@pytest.mark.parametrize("seed", range(5))
def test_mutation_yields_valid_distinct_cells(seed):
    rng = np.random.default_rng(seed)
    cell = random_cell(rng)
    for _ in range(30):
        kinds = ("op", *rng.choice(MUTATIONS[1:], size=int(rng.integers(0, 4)), replace=False))
        new = mutate_cell(cell, rng, kinds)
        assert new.is_connected() and new.canonical() == new and new.key() != cell.key()
        assert Cell.from_str(new.to_str()).key() == new.key()
        cell = new


def test_mutation_kinds():
    ref = REFERENCE_CELL
    ops_only = mutations(ref, ("op",))
    assert {c.describe() for c in ops_only} == {f"0-{o}->1 1-identity->3" for o in ("identity", "conv1x1", "dw5x5")} | \
        {f"0-dw3x3->1 1-{o}->3" for o in ("conv1x1", "dw3x3", "dw5x5")}
    assert all(len(c.live_edges()) > 2 for c in mutations(ref, ("add",)))
    assert mutations(ref, ("remove",)) == []  # removing either edge disconnects the chain
    assert mutations(ref, ("merge",)) == []  # no node has two inputs


def test_bad_cells_raise():
    with pytest.raises(InvalidArchError, match="edge op"):
        Cell((9, 0, 0, 0, 0, 0))
    with pytest.raises(InvalidArchError, match="malformed"):
        Cell.from_str("dw3x3~0|sum")
    with pytest.raises(InvalidArchError, match="unknown op"):
        Cell.from_str("conv9~0|none~0,none~1|none~0,identity~1,none~2|sum,sum,sum")


@pytest.mark.parametrize("seed", range(3))
def test_macs_match_count_macs(seed):
    from archscout.autospace._supernet import CellModule
    from archscout.hardware import count_macs

    rng = np.random.default_rng(seed)
    for c_in, c_out, h, stride in ((8, 8, 16, 1), (8, 16, 16, 2), (16, 32, 8, 2)):
        cell = random_cell(rng)
        m = CellModule(cell, c_in, c_out, stride, expansion=2)
        assert count_macs(m, (1, c_in, h, h)) == cell.macs(c_in, c_out, h, stride, expansion=2)
