"""AutoSpace-style cells: small DAGs over primitive ops, their canonical identity, mutation and MAdds.

A cell has 4 nodes (algorithms.md §4.2-4.4, [ASSUMPTION] for everything below but the node count):
node 0 is the cell input, nodes 1..3 each merge the outputs of the edges entering them, node 3 is the
cell output. An edge j -> i (j < i) carries one op of ``CELL_OPS``; ``none`` (id 0) means no edge, as
in the released configs' matrices. Edges are listed in NB201's canonical order
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. Each of nodes 1..3 has a merge mode of ``MERGES`` (``sum`` or
``max``, element-wise).

Inside a layer of the skeleton (width ``c_in -> c_out``, stride ``s``), a cell runs at ``C = e * c_out``
channels (``expansion`` e, default 2) between two fixed 1x1 convolutions, as an inverted-residual
block does: ``adapter`` (AvgPool s when s > 1, Conv1x1 c_in -> C, BN, ReLU) -> the DAG -> ``project``
(Conv1x1 C -> c_out, BN), plus the block input when ``c_in == c_out`` and ``s == 1``. The reference
cell ``dw3x3`` on 1<-0 and ``identity`` on 3<-1 is then exactly an MBConv (expand e, kernel 3).

Ops: ``conv1x1`` (Conv1x1 C -> C, BN, ReLU), ``dw3x3`` / ``dw5x5`` (depthwise conv, BN, ReLU),
``identity``. MAdds are counted as ``archscout.hardware.count_macs`` counts them: convolutions and
linear layers only (pooling, BN, activations, merges count 0); a test checks the closed form against it.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from archscout.exceptions import ArchscoutError, InvalidArchError

CELL_OPS: tuple[str, ...] = ("none", "identity", "conv1x1", "dw3x3", "dw5x5")
"""Edge ops, in op-id order (0 = no edge)."""
MERGES: tuple[str, ...] = ("sum", "max")
"""Node merge modes, in id order."""
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)
NUM_NODES = 4
MUTATIONS: tuple[str, ...] = ("op", "add", "remove", "merge")
"""Mutation operators: change one edge's op, add an edge, remove an edge, change a node's merge mode."""

_OP_ID = {n: i for i, n in enumerate(CELL_OPS)}
_KERNEL = {"conv1x1": 1, "dw3x3": 3, "dw5x5": 5}


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell: op id per edge (``EDGES`` order) and merge-mode id per node 1..3. Immutable, hashable.

    Equal cells as values may still compute the same function as other cells (dead edges, swapped
    nodes): ``key`` is the identity that weights and populations use.
    """

    edges: tuple[int, ...]
    merge: tuple[int, ...] = (0, 0, 0)

    def __post_init__(self) -> None:
        if len(self.edges) != len(EDGES) or len(self.merge) != NUM_NODES - 1:
            raise InvalidArchError(f"cell needs {len(EDGES)} edge ops and {NUM_NODES - 1} merge modes, got "
                                   f"{len(self.edges)} and {len(self.merge)}")
        for o in self.edges:
            if not (isinstance(o, (int, np.integer)) and 0 <= o < len(CELL_OPS)):
                raise InvalidArchError(f"cell: edge op {o!r} out of range; accepted: 0..{len(CELL_OPS) - 1} "
                                       f"({', '.join(CELL_OPS)})")
        for m in self.merge:
            if not (isinstance(m, (int, np.integer)) and 0 <= m < len(MERGES)):
                raise InvalidArchError(f"cell: merge mode {m!r} out of range; accepted: 0..{len(MERGES) - 1} "
                                       f"({', '.join(MERGES)})")

    # -- structure ----------------------------------------------------------------------------------
    def op(self, to: int, frm: int) -> int:
        return self.edges[EDGES.index((to, frm))]

    def live_edges(self) -> list[tuple[int, int, int]]:
        """(to, from, op) of the edges on some input -> output path (others are dead: never computed)."""
        fwd = {0}
        for to, frm in EDGES:  # EDGES is topologically ordered by target
            if frm in fwd and self.op(to, frm):
                fwd.add(to)
        bwd = {NUM_NODES - 1}
        for to, frm in reversed(EDGES):
            if to in bwd and self.op(to, frm):
                bwd.add(frm)
        return [(to, frm, self.op(to, frm)) for to, frm in EDGES
                if self.op(to, frm) and frm in fwd and to in bwd]

    def is_connected(self) -> bool:
        """Whether some path of edges joins the input to the output."""
        return bool(self.live_edges())

    def live_nodes(self) -> set[int]:
        nodes = {0}
        for to, frm, _ in self.live_edges():
            nodes.update((to, frm))
        return nodes

    def canonical(self) -> "Cell":
        """The representative of the cell's class: dead edges removed, merge modes of nodes with fewer than
        two live inputs set to ``sum``, nodes 1 and 2 swapped where that gives an equal DAG with a larger
        edge tuple (lower nodes used first)."""
        live = {(to, frm): op for to, frm, op in self.live_edges()}
        best = None
        for perm in ((0, 1, 2, 3), (0, 2, 1, 3)):
            mapped = {(perm[to], perm[frm]): op for (to, frm), op in live.items()}
            if any(frm >= to for to, frm in mapped):
                continue
            edges = tuple(mapped.get(e, 0) for e in EDGES)
            merge = []
            for node in (1, 2, 3):
                src = perm.index(node)  # the original node now at position ``node``
                n_in = sum(1 for (to, _f) in live if to == src)
                merge.append(self.merge[src - 1] if n_in >= 2 else 0)
            cand = Cell(edges, tuple(merge))
            if best is None or (cand.edges, cand.merge) > (best.edges, best.merge):
                best = cand
        assert best is not None  # the identity permutation is always valid
        return best

    def key(self) -> str:
        """Canonical string, e.g. ``dw3x3~0|none~0,none~1|none~0,identity~1,none~2|sum,sum,sum``."""
        return self.canonical().to_str()

    def hash(self) -> str:
        """12 hex digits of the canonical string's SHA-1 (module names of a cell's weights)."""
        return hashlib.sha1(self.key().encode()).hexdigest()[:12]

    # -- strings ------------------------------------------------------------------------------------
    def to_str(self) -> str:
        groups = []
        for node in (1, 2, 3):
            groups.append(",".join(f"{CELL_OPS[self.op(node, j)]}~{j}" for j in range(node)))
        return "|".join(groups) + "|" + ",".join(MERGES[m] for m in self.merge)

    @classmethod
    def from_str(cls, text: str) -> "Cell":
        bad = f"malformed cell string {text!r}"
        if not isinstance(text, str):
            raise InvalidArchError(f"cell: expected a string, got {type(text).__name__}")
        parts = text.strip().split("|")
        if len(parts) != 4:
            raise InvalidArchError(f"{bad}: expected 'op~0|op~0,op~1|op~0,op~1,op~2|merge,merge,merge'")
        ops: dict[tuple[int, int], int] = {}
        for node, group in enumerate(parts[:3], start=1):
            tokens = [t.strip() for t in group.split(",")]
            if len(tokens) != node:
                raise InvalidArchError(f"{bad}: node {node} needs {node} inputs, got {len(tokens)}")
            for j, tok in enumerate(tokens):
                name, sep, src = tok.partition("~")
                if not sep or src != str(j):
                    raise InvalidArchError(f"{bad}: token {tok!r} should be 'op~{j}'")
                if name not in _OP_ID:
                    raise InvalidArchError(f"{bad}: unknown op {name!r}; accepted: {', '.join(CELL_OPS)}")
                ops[(node, j)] = _OP_ID[name]
        merges = [m.strip() for m in parts[3].split(",")]
        if len(merges) != 3 or any(m not in MERGES for m in merges):
            raise InvalidArchError(f"{bad}: merge modes must be 3 of {', '.join(MERGES)}")
        return cls(tuple(ops[e] for e in EDGES), tuple(MERGES.index(m) for m in merges))

    def describe(self) -> str:
        """Short human form of the live DAG, e.g. ``0-dw3x3->1 1-identity->3``."""
        live = self.canonical().live_edges()
        return " ".join(f"{frm}-{CELL_OPS[op]}->{to}" for to, frm, op in live)

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.to_str(), "key": self.key(), "hash": self.hash()}

    # -- costs --------------------------------------------------------------------------------------
    def macs(self, c_in: int, c_out: int, h: int, stride: int = 1, expansion: int = 2) -> int:
        """MAdds of the cell in a layer (adapter, live ops, projection), at input size ``h``."""
        c = expansion * c_out
        ho = -(-h // stride)
        total = c_in * c * ho * ho + c * c_out * ho * ho
        for _to, _frm, op in self.live_edges():
            name = CELL_OPS[op]
            if name == "conv1x1":
                total += c * c * ho * ho
            elif name in ("dw3x3", "dw5x5"):
                total += _KERNEL[name] ** 2 * c * ho * ho
        return int(total)

    def count(self, op: str) -> int:
        """Number of live edges with op ``op``."""
        return sum(1 for *_x, o in self.live_edges() if CELL_OPS[o] == op)


REFERENCE_CELL = Cell((_OP_ID["dw3x3"], 0, 0, 0, _OP_ID["identity"], 0))
"""The reference: 0 -dw3x3-> 1 -identity-> 3, which inside a layer is an MBConv (expansion e, kernel 3)."""


def parse_cell(value: Any) -> Cell:
    """A Cell from a Cell, its string, or a dict with ``cell``."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, dict) and "cell" in value:
        return Cell.from_str(value["cell"])
    return Cell.from_str(value)


def random_cell(rng: np.random.Generator, p_edge: float = 0.5) -> Cell:
    """A random connected cell: each edge present with probability ``p_edge``, ops and merges uniform."""
    while True:
        edges = tuple(int(rng.integers(1, len(CELL_OPS))) if rng.random() < p_edge else 0 for _ in EDGES)
        merge = tuple(int(rng.integers(len(MERGES))) for _ in range(NUM_NODES - 1))
        cell = Cell(edges, merge)
        if cell.is_connected():
            return cell.canonical()


def mutations(cell: Cell, kinds: tuple[str, ...] = MUTATIONS) -> list[Cell]:
    """Every distinct connected canonical cell one mutation of a kind in ``kinds`` away (itself excluded)."""
    for k in kinds:
        if k not in MUTATIONS:
            raise ArchscoutError(f"unknown mutation {k!r}; choose from: {', '.join(MUTATIONS)}")
    base = cell.canonical()
    out: dict[str, Cell] = {}
    live = {(to, frm) for to, frm, _ in base.live_edges()}
    for pos in range(len(EDGES)):
        cur = base.edges[pos]
        new_ops: list[int] = []
        if cur and "op" in kinds:
            new_ops += [o for o in range(1, len(CELL_OPS)) if o != cur]
        if cur and "remove" in kinds:
            new_ops.append(0)
        if not cur and "add" in kinds:
            new_ops += list(range(1, len(CELL_OPS)))
        for o in new_ops:
            cand = Cell(base.edges[:pos] + (o,) + base.edges[pos + 1:], base.merge)
            if not cur:
                cand = _complete(cand, EDGES[pos])
            if cand.is_connected():
                c = cand.canonical()
                out.setdefault(c.key(), c)
    if "merge" in kinds:
        for node in (1, 2, 3):
            if sum(1 for to, _f in live if to == node) >= 2:
                merge = list(base.merge)
                merge[node - 1] = 1 - merge[node - 1] if len(MERGES) == 2 else (merge[node - 1] + 1) % len(MERGES)
                c = Cell(base.edges, tuple(merge)).canonical()
                out.setdefault(c.key(), c)
    out.pop(base.key(), None)
    return list(out.values())


def _complete(cell: Cell, edge: tuple[int, int]) -> Cell:
    """An added edge that would be dead gets an ``identity`` edge from the input to its source and/or from
    its target to the output, so that adding an edge can deepen a cell (a new node joins the DAG)."""
    to, frm = edge
    live_nodes = cell.live_nodes()
    edges = list(cell.edges)
    if frm not in live_nodes and frm != 0:
        edges[EDGES.index((frm, 0))] = edges[EDGES.index((frm, 0))] or _OP_ID["identity"]
    if to not in live_nodes and to != NUM_NODES - 1:
        edges[EDGES.index((NUM_NODES - 1, to))] = edges[EDGES.index((NUM_NODES - 1, to))] or _OP_ID["identity"]
    return Cell(tuple(edges), cell.merge)


def mutate_cell(cell: Cell, rng: np.random.Generator, kinds: tuple[str, ...] = MUTATIONS) -> Cell:
    """A uniformly random mutant of a uniformly random applicable kind (valid: connected, canonical)."""
    kinds = tuple(kinds)
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    for k in order:
        options = mutations(cell, (k,))
        if options:
            return options[int(rng.integers(len(options)))]
    raise ArchscoutError(f"cell {cell.to_str()!r} has no mutant of kinds {kinds}")


def all_cells() -> list[Cell]:
    """Every distinct canonical connected cell (for tests and exhaustive checks)."""
    out: dict[str, Cell] = {}
    for edges in itertools.product(range(len(CELL_OPS)), repeat=len(EDGES)):
        for merge in itertools.product(range(len(MERGES)), repeat=NUM_NODES - 1):
            c = Cell(edges, merge)
            if c.is_connected():
                c = c.canonical()
                out.setdefault(c.key(), c)
    return list(out.values())
