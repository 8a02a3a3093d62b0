"""Populations: size control, the reference is kept, tournament, write-back, budget predicate, planted op."""

import numpy as np
import pytest

from archscout.autospace._cells import REFERENCE_CELL, Cell, random_cell
from archscout.autospace._population import Population
from archscout.exceptions import ArchscoutError


def test_population_stays_at_its_size_and_keeps_the_reference():
    rng = np.random.default_rng(0)
    pop = Population(6, REFERENCE_CELL)
    pop.initialize(rng)
    assert len(pop) == 6 and REFERENCE_CELL in pop
    for it in range(30):
        cells = pop.select(3, rng, tour=3, p_mut=0.9)
        assert len(pop) <= 6 and len({c.key() for c in cells}) == len(cells) == 3
        assert cells[0] == REFERENCE_CELL  # ref_anchor
        pop.write_back(cells, rng.normal(size=3) - (5.0 if it % 2 else 0.0) * np.eye(3)[0])
        pop.control()
        assert len(pop) == 6 and REFERENCE_CELL in pop


def test_write_back_is_centred_eqn5():
    pop = Population(4)
    cells = [random_cell(np.random.default_rng(s)) for s in range(3)]
    cells = list({c.key(): c for c in cells}.values())
    for c in cells:
        pop.add(c, fitness=1.0)
    a = np.arange(len(cells), dtype=float) + 10.0
    pop.write_back(cells, a, beta=0.5)
    expect = 0.5 * 1.0 + 0.5 * (a - a.mean())
    assert np.allclose([pop.fitness(c) for c in cells], expect)
    pop.write_back(cells, a + 100.0, beta=0.0)  # shift-invariant, like the softmax
    assert np.allclose([pop.fitness(c) for c in cells], a - a.mean())


def test_budget_predicate_keeps_cells_out():
    cap = REFERENCE_CELL.macs(8, 8, 16)
    pop = Population(8, REFERENCE_CELL, allowed=lambda c: c.macs(8, 8, 16) <= cap)
    rng = np.random.default_rng(1)
    pop.initialize(rng)
    for _ in range(20):
        pop.select(3, rng, p_mut=1.0)
        pop.control()
    assert all(c.macs(8, 8, 16) <= cap for c in pop.cells())
    with pytest.raises(ArchscoutError, match="budget"):
        Population(4, REFERENCE_CELL, allowed=lambda c: False).initialize(rng)


def test_planted_op_rises_with_a_synthetic_fitness():
    """Fitness signal: logits reward dw5x5 edges; after evolution the top cells contain dw5x5."""
    rng = np.random.default_rng(3)
    pop = Population(8, REFERENCE_CELL)
    pop.initialize(rng)
    share0 = np.mean([c.count("dw5x5") > 0 for c in pop.cells()])
    for _ in range(40):
        cells = pop.select(3, rng, tour=3, p_mut=0.5)
        a = np.array([2.0 * c.count("dw5x5") - 0.5 * c.count("conv1x1") for c in cells])
        pop.write_back(cells, a, beta=0.5)
        pop.control()
    top = pop.top(3)
    assert all(c.count("dw5x5") > 0 for c in top)
    assert np.mean([c.count("dw5x5") > 0 for c in pop.cells()]) > share0


def test_state_round_trip():
    rng = np.random.default_rng(0)
    pop = Population(5, REFERENCE_CELL)
    pop.initialize(rng)
    pop.write_back(pop.cells()[:3], [1.0, 2.0, 3.0])
    again = Population.from_dict(pop.to_dict())
    assert [m.cell.key() for m in again.ranked()] == [m.cell.key() for m in pop.ranked()]
    assert isinstance(again.reference, Cell)
