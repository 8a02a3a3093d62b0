"""A registry by name, one instance per kind of thing (spaces, devices, strategies, ...)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from archscout.exceptions import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; lookups of unknown names list the accepted ones, closest first."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, *, named: bool = False) -> Callable[[T], T]:
        """Decorator: ``add(name, entry)``; ``named`` also sets ``entry.name`` (classes that know their name)."""

        def deco(entry: T) -> T:
            if named:
                entry.name = name  # type: ignore[attr-defined]
            self.add(name, entry)
            return entry

        return deco

    def add(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def replace(self, name: str, entry: T) -> None:
        """Add or overwrite an entry (for entries that grow, like a device measured on this machine)."""
        self._entries[name] = entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self, pattern: str = "*") -> list[str]:
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
