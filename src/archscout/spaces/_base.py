"""The SearchSpace protocol and the Arch value every other layer keys on."""

from __future__ import annotations

import abc
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from archscout._registry import Registry
from archscout.exceptions import InvalidArchError

if TYPE_CHECKING:
    from torch import nn

SeedLike = int | np.random.Generator | None


@dataclass(frozen=True, slots=True)
class Arch:
    """An architecture: its space's name and one choice index per position. Immutable, hashable."""

    space: str
    ops: tuple[int, ...]

    def __str__(self) -> str:
        return get_space(self.space).to_str(self)


def is_int(text: str, signed: bool = False) -> bool:
    """Whether ``text`` is a plain ASCII integer (``str.isdigit`` also accepts '²')."""
    return re.fullmatch(r"-?[0-9]+" if signed else r"[0-9]+", text) is not None


def as_rng(seed: SeedLike) -> np.random.Generator:
    """A NumPy Generator from a seed, or the generator itself (so callers can share one stream)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class SearchSpace(abc.ABC):
    """A space of architectures, each a fixed-length vector of categorical choices.

    Subclasses set ``name`` and ``choices`` (number of options per position, also the Optuna
    categorical parameters named by ``param_names``) and implement ``to_str``/``from_str`` and
    ``build``. Sampling, mutation, neighbours and one-hot encoding follow from ``choices``;
    spaces with constraints between positions override ``is_valid`` (and ``sample``/``mutate``
    if needed).
    """

    name: str
    choices: tuple[int, ...]

    # -- identity -----------------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the categorical positions (used as Optuna parameter names)."""
        return tuple(f"p{i:02d}" for i in range(len(self.choices)))

    @property
    def size(self) -> int | None:
        """Number of architectures, or None where constraints make it not a simple product."""
        return int(np.prod(self.choices, dtype=object))

    def is_valid(self, ops: tuple[int, ...]) -> bool:
        """Whether an op vector obeys the space's constraints beyond the per-position ranges."""
        return True

    def make(self, ops: Sequence[int]) -> Arch:
        """An Arch from an op-index vector, validated."""
        try:
            items = list(ops)
            if isinstance(ops, (str, bytes)) or any(isinstance(o, (bool, np.bool_)) for o in items):
                raise TypeError
            ops = tuple(operator.index(o) for o in items)
        except TypeError:
            raise InvalidArchError(f"{self.name}: architecture {ops!r} is not a list of integers") from None
        if len(ops) != len(self.choices):
            raise InvalidArchError(
                f"{self.name}: architecture has {len(ops)} positions, expected {len(self.choices)}"
            )
        for pos, (o, n) in enumerate(zip(ops, self.choices)):
            if not 0 <= o < n:
                raise InvalidArchError(
                    f"{self.name}: choice {o} at position {pos} is out of range; accepted: 0..{n - 1}"
                )
        if not self.is_valid(ops):
            raise InvalidArchError(f"{self.name}: architecture {ops} violates the space's constraints")
        return Arch(self.name, ops)

    def parse(self, value: Any) -> Arch:
        """An Arch from an Arch, a canonical string, an index (enumerable spaces) or an op list."""
        if isinstance(value, Arch):
            if value.space != self.name:
                raise InvalidArchError(f"architecture of space {value.space!r} given to space {self.name!r}")
            return value
        if isinstance(value, (bool, np.bool_)):
            raise InvalidArchError(f"{self.name}: {value!r} is not an architecture")
        if isinstance(value, (int, np.integer)):
            return self.from_index(int(value))
        if isinstance(value, str):
            return self.from_str(value)
        return self.make(value)

    # -- strings and indices --------------------------------------------------------------------
    @abc.abstractmethod
    def to_str(self, arch: Arch) -> str:
        """The canonical string of an architecture."""

    @abc.abstractmethod
    def from_str(self, text: str) -> Arch:
        """Parse a string; raises InvalidArchError naming the bad piece."""

    def index(self, arch: Arch) -> int:
        raise InvalidArchError(f"space {self.name!r} is not enumerable: architectures have no index")

    def from_index(self, index: int) -> Arch:
        raise InvalidArchError(f"space {self.name!r} is not enumerable: architectures have no index")

    # -- search moves ---------------------------------------------------------------------------
    def sample(self, rng: SeedLike = None) -> Arch:
        """A uniformly random architecture (rejection sampling where constraints apply)."""
        rng = as_rng(rng)
        while True:
            ops = tuple(int(rng.integers(n)) for n in self.choices)
            if self.is_valid(ops):
                return Arch(self.name, ops)

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Every valid architecture that differs from ``arch`` at exactly one position."""
        arch = self.parse(arch)
        out = []
        for pos, n in enumerate(self.choices):
            for o in range(n):
                if o != arch.ops[pos]:
                    ops = arch.ops[:pos] + (o,) + arch.ops[pos + 1 :]
                    if self.is_valid(ops):
                        out.append(Arch(self.name, ops))
        return out

    def mutate(self, arch: Arch, rng: SeedLike = None) -> Arch:
        """A uniformly random one-position neighbour."""
        options = self.neighbours(arch)
        return options[int(as_rng(rng).integers(len(options)))]

    def encode(self, arch: Arch | Sequence[Arch]) -> np.ndarray:
        """One-hot features: shape (sum(choices),) for one arch, (n, sum(choices)) for many."""
        single = isinstance(arch, Arch)
        ops = np.array([self.parse(arch).ops] if single else [self.parse(a).ops for a in arch], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(self.choices)[:-1]])
        out = np.zeros((len(ops), int(sum(self.choices))), dtype=np.float32)
        if len(ops):
            out[np.arange(len(ops))[:, None], offsets + ops] = 1.0
        return out[0] if single else out

    # -- networks -------------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, arch: Arch, **net_cfg: Any) -> "nn.Module":
        """A PyTorch network for the architecture."""


SPACES: Registry[type[SearchSpace]] = Registry("space")


def register_space(name: str):
    """Class decorator: register a SearchSpace subclass under ``name`` (sets its ``name``)."""
    return SPACES.register(name, named=True)


_instances: dict[str, SearchSpace] = {}


def get_space(name: str) -> SearchSpace:
    """The (shared, stateless) instance of a registered space."""
    space = _instances.get(name)
    if space is None:
        space = _instances[name] = SPACES.get(name)()
    return space


def register_instance(space: SearchSpace) -> SearchSpace:
    """Make ``get_space(space.name)`` return this instance (e.g. a learned space); replaces that name."""
    SPACES.replace(space.name, lambda: space)
    _instances[space.name] = space
    return space


def list_spaces() -> list[str]:
    return SPACES.names()
