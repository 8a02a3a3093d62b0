"""Per-layer populations of cells with fitness scores (algorithms.md §4.3, a reconstruction).

A ``Population`` holds at most ``size`` distinct cells (by canonical key), each with a fitness ``f``.
``select`` draws K distinct cells by tournament selection with optional mutation (a mutant enters the
population with its parent's fitness); ``write_back`` applies Eqn 5, ``f <- beta*f + (1-beta)*(a - mean a)``;
``control`` removes the lowest-fitness cells beyond ``size`` and never the reference cell. A cell may
be refused by an ``allowed`` predicate (a per-layer MAdds or latency cap): such cells never enter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archscout.autospace._cells import MUTATIONS, Cell, mutate_cell, parse_cell, random_cell
from archscout.exceptions import ArchscoutError

INITS = ("reference", "random")


@dataclass
class Member:
    """One cell of a population: its fitness, how often it was sampled, when it was born."""

    cell: Cell
    fitness: float = 0.0
    samples: int = 0
    born: int = 0


class Population:
    """The cells of one layer. ``reference`` (optional) is never removed."""

    def __init__(self, size: int, reference: Cell | None = None, *, allowed: Callable[[Cell], bool] | None = None):
        if size < 1:
            raise ArchscoutError(f"population size {size} must be >= 1")
        self.size = int(size)
        self.reference = None if reference is None else reference.canonical()
        self.allowed = allowed or (lambda c: True)
        self.members: dict[str, Member] = {}
        self.iteration = 0

    # -- membership ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, cell: Cell) -> bool:
        return cell.key() in self.members

    def cells(self) -> list[Cell]:
        return [m.cell for m in self.members.values()]

    def fitness(self, cell: Cell) -> float:
        return self.members[cell.key()].fitness

    def add(self, cell: Cell, fitness: float = 0.0, protect: Sequence[str] = ()) -> bool:
        """Insert a cell (no-op if present); evicts the worst unprotected cell if the population is full.
        Returns whether the cell is in the population afterwards."""
        cell = cell.canonical()
        key = cell.key()
        if key in self.members:
            return True
        if not self.allowed(cell):
            return False
        self.members[key] = Member(cell, float(fitness), 0, self.iteration)
        self.control(protect=(*protect, key))
        return key in self.members

    def initialize(self, rng: np.random.Generator, init: str = "reference",
                   mutation_kinds: tuple[str, ...] = MUTATIONS, max_tries: int = 1000) -> None:
        """Fill with ``size`` cells: the reference plus random mutations of it (``init="reference"``), or
        random connected cells (``init="random"``; the reference still joins when given). f = 0."""
        if init not in INITS:
            raise ArchscoutError(f"unknown init {init!r}; choose from: {', '.join(INITS)}")
        if self.reference is not None:
            if not self.allowed(self.reference):
                raise ArchscoutError("the reference cell does not fit the layer's budget; raise the budget")
            self.add(self.reference)
        tries = 0
        while len(self) < self.size and tries < max_tries:
            tries += 1
            if init == "reference" and self.reference is not None:
                parent = self.reference if rng.random() < 0.5 or len(self) < 2 else \
                    self.cells()[int(rng.integers(len(self)))]
                cell = mutate_cell(parent, rng, mutation_kinds)
            else:
                cell = random_cell(rng)
            self.add(cell)
        if len(self) < min(self.size, 2) and len(self) < self.size:
            raise ArchscoutError(f"could not fill a population of {self.size} cells within the budget "
                                 f"({len(self)} found); raise the budget")

    # -- selection -----------------------------------------------------------------------------------
    def tournament(self, rng: np.random.Generator, tour: int, exclude: Sequence[str] = ()) -> Cell | None:
        """The fittest of ``tour`` cells drawn uniformly (with replacement) among those not excluded."""
        pool = [k for k in self.members if k not in exclude]
        if not pool:
            return None
        picks = [pool[int(rng.integers(len(pool)))] for _ in range(max(1, tour))]
        best = max(picks, key=lambda k: (self.members[k].fitness, -pool.index(k)))
        return self.members[best].cell

    def select(self, k: int, rng: np.random.Generator, *, tour: int = 3, p_mut: float = 0.5,
               ref_anchor: bool = True, mutation_kinds: tuple[str, ...] = MUTATIONS,
               max_tries: int = 20, mutant_fitness: str = "parent") -> list[Cell]:
        """K distinct cells (fewer if the population and its mutants cannot give K).

        Slot 0 is the reference when ``ref_anchor``; each other slot is a tournament winner, replaced
        with probability ``p_mut`` by a mutant (inserted with the parent's fitness, or 0 with
        ``mutant_fitness="zero"``; a mutant refused by the budget or already chosen leaves the parent).
        """
        chosen: list[Cell] = []
        keys: list[str] = []
        if ref_anchor and self.reference is not None:
            self.add(self.reference)
            chosen.append(self.reference)
            keys.append(self.reference.key())
        tries = 0
        while len(chosen) < k and tries < max_tries * k:
            tries += 1
            parent = self.tournament(rng, tour, exclude=keys)
            if parent is None:  # everything is chosen: grow by mutating a chosen cell
                parent = chosen[int(rng.integers(len(chosen)))]
                force = True
            else:
                force = False
            cell = parent
            if force or rng.random() < p_mut:
                mutant = mutate_cell(parent, rng, mutation_kinds)
                if mutant.key() not in keys and self.allowed(mutant):
                    fit = self.members[parent.key()].fitness if (parent.key() in self.members and
                                                                   mutant_fitness == "parent") else 0.0
                    if self.add(mutant, fit, protect=keys):
                        cell = mutant
            if cell.key() in keys:
                continue
            chosen.append(cell)
            keys.append(cell.key())
        for c in chosen:
            self.members[c.key()].samples += 1
        return chosen

    # -- fitness -------------------------------------------------------------------------------------
    def write_back(self, cells: Sequence[Cell], logits: Sequence[float], beta: float = 0.5) -> None:
        """Eqn 5 (reconstructed): ``f_c <- beta*f_c + (1-beta)*(a_c - mean(a))`` for each sampled cell."""
        a = np.asarray(logits, dtype=np.float64)
        if len(a) != len(cells):
            raise ArchscoutError(f"{len(cells)} cells but {len(a)} logits")
        centred = a - a.mean()
        for cell, v in zip(cells, centred):
            m = self.members.get(cell.key())
            if m is not None:
                m.fitness = beta * m.fitness + (1.0 - beta) * float(v)

    def control(self, protect: Sequence[str] = ()) -> list[Cell]:
        """Remove the lowest-fitness cells (never the reference, nor ``protect``) until ``size`` remain."""
        removed = []
        ref = None if self.reference is None else self.reference.key()
        while len(self.members) > self.size:
            pool = [k for k in self.members if k != ref and k not in protect]
            if not pool:
                pool = [k for k in self.members if k != ref]
            worst = min(pool, key=lambda k: (self.members[k].fitness, -self.members[k].born))
            removed.append(self.members.pop(worst).cell)
        return removed

    def ranked(self) -> list[Member]:
        """Members by fitness, best first (ties: the older first, then by key)."""
        return sorted(self.members.values(), key=lambda m: (-m.fitness, m.born, m.cell.key()))

    def top(self, k: int) -> list[Cell]:
        return [m.cell for m in self.ranked()[:k]]

    # -- state ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "iteration": self.iteration,
                "reference": None if self.reference is None else self.reference.to_str(),
                "members": [{"cell": m.cell.to_str(), "fitness": m.fitness, "samples": m.samples, "born": m.born}
                            for m in self.members.values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any], allowed: Callable[[Cell], bool] | None = None) -> "Population":
        ref = None if d.get("reference") is None else parse_cell(d["reference"])
        pop = cls(int(d["size"]), ref, allowed=allowed)
        pop.iteration = int(d.get("iteration", 0))
        for m in d["members"]:
            cell = parse_cell(m["cell"]).canonical()
            pop.members[cell.key()] = Member(cell, float(m["fitness"]), int(m.get("samples", 0)), int(m.get("born", 0)))
        return pop
