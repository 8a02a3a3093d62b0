"""Errors raised for users: each message is one line naming the bad value and the accepted ones."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ArchscoutError(Exception):
    """Base class of every error archscout raises on purpose."""


class UnknownNameError(ArchscoutError, KeyError):
    """A name (space, dataset, device, metric, op) that is not registered."""

    def __init__(self, kind: str, name: object, choices: Iterable[str]):
        choices = list(choices)
        close = difflib.get_close_matches(str(name), choices, n=len(choices), cutoff=0.0)
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(f"unknown {kind} {name!r}; choose from: {', '.join(close)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ArchscoutWarning(UserWarning):
    """Base class of the warnings archscout gives users (the CLI prints each as one ``warning:`` line)."""


class InvalidArchError(ArchscoutError, ValueError):
    """An architecture (string, index or op list) that does not belong to its space."""


class DataIntegrityError(ArchscoutError):
    """A packaged data file is missing or does not match its checksum."""
