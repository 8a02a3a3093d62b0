"""DARTS cell space as NAS-OoD uses it: a normal and a reduction cell, 4 nodes of 2 inputs, 7 ops.

An Arch is a flat tuple of 32 ints: for the normal cell, then the reduction cell, for each of the
4 intermediate nodes, for each of its 2 incoming edges, ``(op, input)`` where ``op`` indexes
``PRIMITIVES`` and ``input`` is the state the edge reads (0, 1: the cell inputs, i + 2: node i), so
node i may read 0 .. i + 1. The two inputs of a node must differ. Every intermediate node is
concatenated into the cell output (concat 2..5). There is no ``none`` op: a derived genotype never
holds one. (NAS-OoD's derivation may pick one input twice; such genotypes are outside this space,
but ``archscout.nn.DartsNetwork`` builds them.)

String format (safe to type unquoted in a shell)::

    normal=OP~IN+OP~IN,OP~IN+OP~IN,OP~IN+OP~IN,OP~IN+OP~IN/reduce=OP~IN+OP~IN,...

``+`` joins the two edges of a node (the node is their sum), ``,`` separates the 4 nodes, ``/``
separates the cells. ``from_str`` also accepts a DARTS ``Genotype(normal=[('sep_conv_3x3', 0), ...],
normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))`` repr and the names of the
genotypes in ``GENOTYPES`` (``DARTS_V2``, ...).
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from archscout.exceptions import InvalidArchError
from archscout.spaces._base import Arch, SearchSpace, SeedLike, as_rng, is_int, register_space

if TYPE_CHECKING:
    from archscout.nn._darts import DartsNetwork

# NAS-OoD's order (op id = flat index mod 7); DARTS proper puts ``none`` first (8 ops).
PRIMITIVES = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
CELLS = ("normal", "reduce")
NUM_NODES = 4
CONCAT = (2, 3, 4, 5)
_OP_ID = {name: i for i, name in enumerate(PRIMITIVES)}
_PER_CELL = NUM_NODES * 2 * 2  # 16 positions: 4 nodes x 2 edges x (op, input)


class Genotype(NamedTuple):
    """A DARTS genotype: per cell, 8 ``(op_name, input)`` pairs (2 per node) and the concat nodes."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]


def _genotype(normal, reduce) -> Genotype:
    return Genotype(tuple(normal), CONCAT, tuple(reduce), CONCAT)


# DARTS (second order), CIFAR-10, from the DARTS paper's released cells.
DARTS_V2 = _genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)
# DARTS (first order), CIFAR-10, from the DARTS release (checked against public copies of it).
DARTS_V1 = _genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
            ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
)
# NAS-OoD's one-stage search result (algorithms.md §3.7).
NASOOD_ONESTAGE = _genotype(
    normal=[("skip_connect", 0), ("dil_conv_3x3", 1), ("sep_conv_3x3", 1), ("dil_conv_5x5", 2),
            ("avg_pool_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_5x5", 1), ("sep_conv_3x3", 2)],
    reduce=[("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 0), ("max_pool_3x3", 1),
            ("sep_conv_5x5", 1), ("avg_pool_3x3", 0), ("max_pool_3x3", 0), ("dil_conv_5x5", 2)],
)
GENOTYPES: dict[str, Genotype] = {
    "DARTS_V1": DARTS_V1,
    "DARTS_V2": DARTS_V2,
    "NASOOD_ONESTAGE": NASOOD_ONESTAGE,
}

_FORMAT_HINT = (
    "expected 'normal=OP~IN+OP~IN,... (4 nodes)/reduce=OP~IN+OP~IN,...', a DARTS Genotype(...) repr, "
    f"or one of: {', '.join(GENOTYPES)}"
)
_STR_RE = re.compile(
    r"\s*normal\s*=(?P<normal>[^/;=]*?)(?:\s*[/;]\s*|\s+)reduce\s*=(?P<reduce>[^/;=]*)", re.IGNORECASE
)


MAX_TEXT = 4096  # characters of an architecture string: DARTS's longest genotype repr is about 500


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _pos(cell: int, node: int, edge: int) -> int:
    """Position of the op of an edge; its input is at the next position."""
    return cell * _PER_CELL + node * 4 + edge * 2


@register_space("darts")
class DartsSpace(SearchSpace):
    """The DARTS / NAS-OoD cell space. ``build`` gives a ``DartsNetwork`` (C=16, 8 cells by default).

    Example::

        space = get_space("darts")
        arch = space.from_str("DARTS_V2")
        space.to_str(arch)  # 'normal=sep_conv_3x3~0+sep_conv_3x3~1,.../reduce=max_pool_3x3~0+...'
        net = space.build(arch, C=8, layers=5, in_channels=1)  # Fashion-MNIST sized

    Archs keep the edge order they were made with, so ``from_str(to_str(a)) == a``. Swapping the
    two edges of a node gives the same network: ``canonical(arch)`` orders them by (input, op), and
    ``to_str(canonical(arch))`` is the one string of that network.
    """

    choices = tuple(
        c
        for _cell in CELLS
        for node in range(NUM_NODES)
        for _edge in range(2)
        for c in (len(PRIMITIVES), 2 + node)
    )
    ops_names = PRIMITIVES

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(
            f"{cell}_n{node}_e{edge}_{field}"
            for cell in CELLS
            for node in range(NUM_NODES)
            for edge in range(2)
            for field in ("op", "in")
        )

    @property
    def size(self) -> int:
        """Number of valid op vectors: per node, 7 ops on each edge and 2 different ordered inputs."""
        per_cell = math.prod((2 + i) * (1 + i) * len(PRIMITIVES) ** 2 for i in range(NUM_NODES))
        return per_cell ** len(CELLS)

    @property
    def num_genotypes(self) -> int:
        """Number of distinct networks (edge order within a node ignored): ``size / 2**8``."""
        per_cell = math.prod(math.comb(2 + i, 2) * len(PRIMITIVES) ** 2 for i in range(NUM_NODES))
        return per_cell ** len(CELLS)

    def is_valid(self, ops: tuple[int, ...]) -> bool:
        return len(ops) == len(self.choices) and self._shared_input(ops) is None

    @staticmethod
    def _shared_input(ops: Sequence[int]) -> tuple[int, int, int] | None:
        """(cell, node, input) of the first node whose two edges read the same input, else None."""
        for cell in range(len(CELLS)):
            for node in range(NUM_NODES):
                p = _pos(cell, node, 0)
                if ops[p + 1] == ops[p + 3]:
                    return cell, node, ops[p + 1]
        return None

    def make(self, ops: Sequence[int]) -> Arch:
        try:
            vec = tuple(int(o) for o in ops)
        except (TypeError, ValueError):
            raise InvalidArchError(f"darts: architecture {ops!r} is not a list of integers") from None
        if len(vec) == len(self.choices) and all(0 <= o < n for o, n in zip(vec, self.choices)):
            bad = self._shared_input(vec)
            if bad is not None:
                cell, node, inp = bad
                raise InvalidArchError(
                    f"darts: {CELLS[cell]} node {node} reads input {inp} on both edges; "
                    "the two inputs of a node must differ"
                )
        return super().make(vec)

    def parse(self, value: Any) -> Arch:
        """Like ``SearchSpace.parse``, and also accepts a ``Genotype`` (ours or DARTS's namedtuple)."""
        if not isinstance(value, (Arch, str)) and all(hasattr(value, f) for f in ("normal", "reduce")):
            return self.from_genotype(value)
        return super().parse(value)

    def _arch(self, arch: Any) -> Arch:
        arch = self.parse(arch)
        if len(arch.ops) != len(self.choices):
            raise InvalidArchError(
                f"darts: architecture has {len(arch.ops)} positions, expected {len(self.choices)}"
            )
        return arch

    # -- genotypes ------------------------------------------------------------------------------
    def to_genotype(self, arch: Arch) -> Genotype:
        """The DARTS genotype of an architecture (edges in the arch's order, concat 2..5)."""
        ops = self._arch(arch).ops
        halves = [
            tuple((PRIMITIVES[ops[p]], ops[p + 1]) for p in range(_pos(c, 0, 0), _pos(c + 1, 0, 0), 2))
            for c in range(len(CELLS))
        ]
        return Genotype(halves[0], CONCAT, halves[1], CONCAT)

    def from_genotype(self, genotype: Any) -> Arch:
        """An Arch from a ``Genotype`` or anything with ``normal``, ``reduce`` (and ``*_concat``)."""
        try:
            halves = [getattr(genotype, cell) for cell in CELLS]
        except AttributeError:
            raise InvalidArchError(
                f"darts: {type(genotype).__name__} is not a genotype; "
                "expected fields normal, normal_concat, reduce, reduce_concat"
            ) from None
        for cell in CELLS:
            concat = getattr(genotype, f"{cell}_concat", CONCAT)
            try:  # a long range or list is refused before it is built
                concat = tuple(int(c) for c in concat) if len(concat) <= 2 + NUM_NODES else None
            except (TypeError, ValueError):
                concat = None
            if concat != CONCAT:
                raise InvalidArchError(
                    f"darts: {cell}_concat {_clip(repr(getattr(genotype, f'{cell}_concat')))} is not "
                    f"supported; accepted: {CONCAT} (all 4 nodes)"
                )
        return self._from_edges(halves)

    def _from_edges(self, halves: Sequence[Any]) -> Arch:
        """Validate two cells of 8 (op_name, input) pairs, with messages naming the bad piece."""
        ops: list[int] = []
        for cell, edges in zip(CELLS, halves):
            if not _is_seq(edges) or len(edges) != 2 * NUM_NODES:
                n = len(edges) if isinstance(edges, Sequence) else type(edges).__name__
                raise InvalidArchError(
                    f"darts: cell {cell!r} has {n} edges, expected {2 * NUM_NODES} (2 per node)"
                )
            for k, edge in enumerate(edges):
                node = k // 2
                if not _is_seq(edge) or len(edge) != 2:
                    raise InvalidArchError(
                        f"darts: {cell} node {node} edge {edge!r} is not an (op_name, input) pair"
                    )
                name, inp = edge
                ops.append(self._op_id(name, f"{cell} node {node}"))
                ops.append(self._input(inp, cell, node))
        return self.make(ops)

    @staticmethod
    def _op_id(name: Any, where: str) -> int:
        op = _OP_ID.get(name) if isinstance(name, str) else None
        if op is None:
            close = difflib.get_close_matches(str(name), PRIMITIVES, n=len(PRIMITIVES), cutoff=0.0)
            raise InvalidArchError(f"darts: unknown op {name!r} in {where}; choose from: {', '.join(close)}")
        return op

    @staticmethod
    def _input(value: Any, cell: str, node: int) -> int:
        try:
            inp = int(value)
            ok = inp == value or (isinstance(value, str) and is_int(value.strip()))
        except (TypeError, ValueError):
            ok = False
        if isinstance(value, bool) or not ok or not 0 <= inp < 2 + node:
            raise InvalidArchError(
                f"darts: input {value!r} of {cell} node {node} is not valid; accepted: 0..{node + 1}"
            )
        return inp

    def canonical(self, arch: Arch) -> Arch:
        """The same network with the two edges of every node ordered by (input, op)."""
        ops = list(self._arch(arch).ops)
        for cell in range(len(CELLS)):
            for node in range(NUM_NODES):
                p = _pos(cell, node, 0)
                e0, e1 = (ops[p], ops[p + 1]), (ops[p + 2], ops[p + 3])
                if (e1[1], e1[0]) < (e0[1], e0[0]):
                    ops[p : p + 4] = [*e1, *e0]
        return Arch(self.name, tuple(ops))

    # -- strings --------------------------------------------------------------------------------
    def to_str(self, arch: Arch) -> str:
        g = self.to_genotype(arch)
        cells = []
        for cell, edges in zip(CELLS, (g.normal, g.reduce)):
            pairs = [f"{op}~{inp}" for op, inp in edges]
            nodes = (f"{pairs[2 * n]}+{pairs[2 * n + 1]}" for n in range(NUM_NODES))
            cells.append(f"{cell}={','.join(nodes)}")
        return "/".join(cells)

    def from_str(self, text: str) -> Arch:
        if not isinstance(text, str):
            raise InvalidArchError(f"darts: architecture string expected, got {type(text).__name__}")
        if len(text) > MAX_TEXT:  # parsing (and quoting) megabytes would hang or fill the error line
            raise InvalidArchError(f"darts: architecture string {_short(text)} has {len(text):,} characters; "
                                   f"at most {MAX_TEXT:,} are accepted ({_FORMAT_HINT})")
        key = text.strip().upper().replace("-", "_")
        if key in GENOTYPES:
            return self.from_genotype(GENOTYPES[key])
        if "genotype" in text.lower() and "(" in text:
            return self._from_repr(text)
        m = _STR_RE.fullmatch(text)
        if m is None:
            raise InvalidArchError(f"darts: cannot parse {_short(text)}; {_FORMAT_HINT}")
        halves = []
        for cell in CELLS:
            nodes = m.group(cell).split(",")
            if len(nodes) != NUM_NODES:
                raise InvalidArchError(
                    f"darts: cell {cell!r} has {len(nodes)} nodes in {_short(text)}, "
                    f"expected {NUM_NODES} separated by ','"
                )
            edges = []
            for node, group in enumerate(nodes):
                tokens = group.split("+")
                if len(tokens) != 2:
                    raise InvalidArchError(
                        f"darts: {cell} node {node} {group.strip()!r} has {len(tokens)} edges, "
                        "expected 2 joined by '+'"
                    )
                for token in tokens:
                    name, sep, inp = token.strip().partition("~")
                    if not sep:
                        raise InvalidArchError(
                            f"darts: {cell} node {node} edge {token.strip()!r} is not 'op_name~input'"
                        )
                    inp = inp.strip()
                    edges.append((name.strip(), int(inp) if is_int(inp) else inp))
            halves.append(edges)
        return self._from_edges(halves)

    def _from_repr(self, text: str) -> Arch:
        """Parse DARTS's ``Genotype(normal=[...], normal_concat=range(2, 6), ...)`` (no eval)."""
        bad = f"darts: cannot parse genotype {_short(text)}"
        try:
            call = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            raise InvalidArchError(f"{bad}: not valid Python syntax; {_FORMAT_HINT}") from None
        func = getattr(call, "func", None)
        if not isinstance(call, ast.Call) or getattr(func, "id", getattr(func, "attr", None)) != "Genotype":
            raise InvalidArchError(f"{bad}: expected a call Genotype(...)")
        fields = dict(zip(Genotype._fields, call.args))
        for kw in call.keywords:
            if kw.arg not in Genotype._fields:
                raise InvalidArchError(
                    f"{bad}: unknown field {kw.arg!r}; accepted: {', '.join(Genotype._fields)}"
                )
            fields[kw.arg] = kw.value
        values = {}
        for name in Genotype._fields:
            if name not in fields:
                raise InvalidArchError(f"{bad}: field {name!r} is missing")
            values[name] = _literal(fields[name], bad, name)
        return self.from_genotype(Genotype(**values))

    # -- search moves ---------------------------------------------------------------------------
    def sample(self, rng: SeedLike = None) -> Arch:
        """A uniformly random valid op vector (two distinct inputs drawn per node)."""
        rng = as_rng(rng)
        ops: list[int] = []
        for _cell in CELLS:
            for node in range(NUM_NODES):
                inputs = rng.choice(2 + node, size=2, replace=False)
                for inp in inputs:
                    ops += [int(rng.integers(len(PRIMITIVES))), int(inp)]
        return Arch(self.name, tuple(ops))

    # -- networks -------------------------------------------------------------------------------
    def build(
        self,
        arch: Arch,
        *,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        auxiliary: bool = False,
        drop_path_prob: float = 0.0,
        bn_after_pool_skip: bool = True,
    ) -> DartsNetwork:
        """The evaluation network (``archscout.nn.DartsNetwork``); see there for the arguments."""
        from archscout.nn._darts import DartsNetwork

        return DartsNetwork(
            self.to_genotype(arch),
            C=C,
            num_classes=num_classes,
            layers=layers,
            in_channels=in_channels,
            auxiliary=auxiliary,
            drop_path_prob=drop_path_prob,
            bn_after_pool_skip=bn_after_pool_skip,
        )


def _literal(node: ast.AST, bad: str, field: str) -> Any:
    """A literal from a genotype field; ``range(a, b)`` is allowed for the concat fields."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "range" and field.endswith("_concat"):
        try:
            r = range(*(ast.literal_eval(a) for a in node.args))  # a range object: nothing built yet
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise InvalidArchError(f"{bad}: {field} is not a range of ints") from None
        if len(r) > 2 + NUM_NODES:  # more states than a cell has: never built (range(2, 10**9) would be GBs)
            raise InvalidArchError(f"{bad}: {field} range({r.start}, {r.stop}, {r.step}) is not supported; "
                                   f"accepted: range{(CONCAT[0], CONCAT[-1] + 1)} (all {NUM_NODES} nodes)")
        return tuple(r)
    if isinstance(node, ast.Call):  # only the concat fields' range(...) is a call DARTS writes
        called = getattr(node.func, "id", getattr(node.func, "attr", "a call"))
        raise InvalidArchError(f"{bad}: {field} calls {called}(...); the only call accepted is range(a, b) in a "
                               "*_concat field")
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise InvalidArchError(
            f"{bad}: {field} is not a literal list of (op_name, input) pairs or ints"
        ) from None
