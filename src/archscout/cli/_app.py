"""The ``archscout`` command group and its entry point; each command family lives in its own module."""

from __future__ import annotations

import math
import sys
import warnings

import click

from archscout import __version__
from archscout.exceptions import ArchscoutError, ArchscoutWarning

IMAGE_MODES = ("L", "RGB", "RGBA")  # archscout.data's modes, here so that the CLI starts without torch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="archscout")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """archscout: hardware-aware, shift-robust neural architecture search."""
    ctx.obj = {"debug": debug}


def compute_options(f):
    """``--accelerator`` and ``--precision`` (None when not given: the config's defaults, auto and fp32)."""
    from archscout._accelerator import PRECISIONS

    f = click.option("--precision", default=None, type=click.Choice(PRECISIONS),
                     help="fp32, or mixed precision bf16 / fp16 [fp32].")(f)
    return click.option("--accelerator", default=None, metavar="NAME",
                        help="Compute device: auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N or mps [auto]. "
                             "Not --device, the hardware whose latency is budgeted.")(f)


class FiniteFloat(click.FloatRange):
    """``click.FloatRange`` without ``inf`` and ``nan``: ``1e309`` reads as ``inf``, so ``FloatRange``
    takes it where ``inf`` itself is refused by a bound (every float option of train, oneshot, space)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        v = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(v):  # before the bounds: nan is in no range, and says so plainly
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(v, param, ctx)


def image_mode_option(f):
    """``--image-mode`` of every command that reads folders (None: the folder's majority mode)."""
    return click.option("--image-mode", type=click.Choice(IMAGE_MODES), default=None,
                        help="Convert a folder's images to L (grey), RGB or RGBA [the mode most of them have].")(f)


_python_show = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """archscout's warnings as one ``warning:`` line each; any other as Python shows it."""
    if issubclass(category, ArchscoutWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line ``error: ...`` and exit 2 (``--debug`` re-raises); Ctrl-C
    prints one line (re-running the same command resumes: every run folder keeps its finished work) and
    exits 130."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        cli.main(args=args, prog_name="archscout", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C: the shell's 128 + SIGINT
        click.echo("interrupted: re-run the same command to resume", err=True)
        return 130
    except click.ClickException as exc:
        if debug:
            raise
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except ArchscoutError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return 2
    finally:
        warnings.showwarning = shown
    return 0
