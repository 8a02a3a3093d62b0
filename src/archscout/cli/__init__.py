"""The ``archscout`` command: a thin shell over the library API."""

from archscout.cli._app import cli, main
from archscout.cli import _bench, _hw  # noqa: F401  (registers the command families)

__all__ = ["cli", "main"]
