"""NAS-Bench-201 topology space: 5 ops on the 6 edges of a 4-node cell, 15,625 architectures.

An Arch holds one op id per edge in the canonical edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
Indices follow NB201's (and HW-NAS-Bench's) order: the generation order shuffled once by
Python's ``random.seed(88)``; the permutation ships as a constant (``_nb201_perm``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from archscout.exceptions import InvalidArchError, UnknownNameError
from archscout.spaces._base import Arch, SearchSpace, is_int, register_space
from archscout.spaces._nb201_perm import NB201_PERM

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to node, from node)
NB201_SIZE = 5**6
_OP_ID = {name: i for i, name in enumerate(NB201_OPS)}
_POW5 = 5 ** np.arange(5, -1, -1)


def _gen_to_ops(gen: np.ndarray) -> np.ndarray:
    """Generation index -> op ids (base-5 digits, edge 1<-0 most significant)."""
    return (np.asarray(gen)[..., None] // _POW5) % 5


@register_space("nb201")
class NB201Space(SearchSpace):
    """NB201 cell space. ``build`` gives the TinyNetwork (C=16, N=5 by default)."""

    choices = (5,) * 6
    ops_names = NB201_OPS

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"{d}<-{s}" for d, s in NB201_EDGES)

    # -- tables over all 15,625 archs, in NB201 index order ------------------------------------
    @cached_property
    def _perm(self) -> np.ndarray:
        return np.asarray(NB201_PERM, dtype=np.int64)

    @cached_property
    def _inv_perm(self) -> np.ndarray:
        inv = np.empty(NB201_SIZE, dtype=np.int64)
        inv[self._perm] = np.arange(NB201_SIZE)
        return inv

    @cached_property
    def ops_table(self) -> np.ndarray:
        """(15625, 6) op ids; row i is the arch with NB201 index i."""
        table = _gen_to_ops(self._perm).astype(np.int8)
        table.flags.writeable = False
        return table

    @cached_property
    def _str_to_index(self) -> dict[str, int]:
        return {self._format(tuple(row)): i for i, row in enumerate(self.ops_table.tolist())}

    # -- strings and indices --------------------------------------------------------------------
    @staticmethod
    def _format(ops: tuple[int, ...]) -> str:
        n = [f"{NB201_OPS[o]}~{s}" for o, (_, s) in zip(ops, NB201_EDGES)]
        return f"|{n[0]}|+|{n[1]}|{n[2]}|+|{n[3]}|{n[4]}|{n[5]}|"

    def to_str(self, arch: Arch) -> str:
        return self._format(self.parse(arch).ops)

    def from_str(self, text: str) -> Arch:
        index = self._str_to_index.get(text)
        if index is not None:  # fast path: canonical strings
            return Arch(self.name, tuple(int(o) for o in self.ops_table[index]))
        return self.make(self._parse(text))

    def _parse(self, text: str) -> tuple[int, ...]:
        shown = text if len(text) <= 120 else text[:117] + "..."
        bad = f"nb201: malformed architecture string {shown!r}"
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise InvalidArchError(f"{bad}: expected 3 node groups joined by '+' like "
                                   f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|', got {len(nodes)}")
        edge_ops: dict[tuple[int, int], int] = {}
        for node, group in enumerate(nodes, start=1):
            tokens = [t for t in group.split("|") if t.strip()]
            if len(tokens) != node:
                raise InvalidArchError(f"{bad}: node {node} needs {node} inputs, got {len(tokens)}")
            for token in tokens:
                name, sep, src = (part.strip() for part in token.partition("~"))
                if not sep or not is_int(src):
                    raise InvalidArchError(f"{bad}: token {token!r} is not 'opname~source'")
                if name not in _OP_ID:
                    raise UnknownNameError("nb201 op", name, NB201_OPS)
                if int(src) >= node or (node, int(src)) in edge_ops:
                    raise InvalidArchError(f"{bad}: node {node} has an invalid or repeated source {src}; "
                                           f"accepted: {', '.join(map(str, range(node)))}")
                edge_ops[(node, int(src))] = _OP_ID[name]
        return tuple(edge_ops[e] for e in NB201_EDGES)

    def index(self, arch: Arch) -> int:
        return int(self._inv_perm[int(np.dot(self.parse(arch).ops, _POW5))])

    def indices(self, archs) -> np.ndarray:
        """NB201 indices of many archs at once."""
        ops = np.array([self.parse(a).ops for a in archs], dtype=np.int64).reshape(-1, 6)
        return self._inv_perm[ops @ _POW5]

    def from_index(self, index: int) -> Arch:
        if not isinstance(index, (int, np.integer)) or not 0 <= index < NB201_SIZE:
            raise InvalidArchError(f"nb201: index {index!r} is out of range; accepted: 0..{NB201_SIZE - 1}")
        return Arch(self.name, tuple(int(o) for o in self.ops_table[index]))

    def parse(self, value: Any) -> Arch:
        if isinstance(value, str) and is_int(value.strip(), signed=True):
            return self.from_index(int(value))
        return super().parse(value)

    # -- structure ------------------------------------------------------------------------------
    def is_disconnected(self, arch: Arch) -> bool:
        """True when no path of non-``none`` edges joins input and output: accuracy is chance."""
        return bool(_disconnected(np.asarray(arch.ops)[None])[0])

    def disconnected_mask(self) -> np.ndarray:
        """Boolean mask over NB201 indices of the archs whose output is cut from the input."""
        return _disconnected(self.ops_table)

    def canonical(self, arch: Arch) -> str:
        """A string shared by exactly the archs that compute the same function (isomorphism).

        A node is the sorted sum of its inputs' terms: ``skip_connect`` passes its input's term
        through, ``none`` (or a zero input) gives ``#``, other ops wrap the term. This is NB201's
        convention and yields its published 6,466 classes.
        """
        terms = ["0"]
        for node in (1, 2, 3):
            cur = []
            for o, (d, s) in zip(arch.ops, NB201_EDGES):
                if d != node:
                    continue
                if o == 0 or terms[s] == "#":
                    cur.append("#")
                elif o == 1:
                    cur.append(terms[s])
                else:
                    cur.append(f"({terms[s]})@{NB201_OPS[o]}")
            terms.append("+".join(sorted(cur)))
        return terms[3]

    def build(self, arch: Arch, **net_cfg: Any):
        from archscout.nn import TinyNetwork

        return TinyNetwork(self.to_str(arch), **net_cfg)


def _disconnected(ops: np.ndarray) -> np.ndarray:
    live = ops != 0  # edge carries signal unless 'none'
    reach1 = live[:, 0]
    reach2 = live[:, 1] | (reach1 & live[:, 2])
    reach3 = live[:, 3] | (reach1 & live[:, 4]) | (reach2 & live[:, 5])
    return ~reach3
