"""The ``archscout`` command: a thin shell over the library API."""

from archscout.cli._app import cli, main
from archscout.cli import _bench, _hw  # noqa: F401  (registers the command families)
from archscout.cli import _data, _oneshot, _search, _space, _train  # noqa: F401

__all__ = ["cli", "main"]
