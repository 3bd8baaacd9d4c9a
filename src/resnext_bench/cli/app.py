"""The command group: the tool's errors turned into one-line messages and exit codes, SIGTERM
and a closed pipe handled, and the helpers every command prints with."""

from __future__ import annotations

import json
import sys

import click

from .. import __version__
from ..core.errors import CheckFailed, Terminated, UsageError, write_error_text


#: where ``baseline`` keeps its runs unless --store says (core.baseline.DEFAULT_STORE; spelled
#: here so that --help imports nothing more)
DEFAULT_BASELINE_STORE = ".resnext-bench/baselines"

#: ``ab`` / ``compare --fail-on-inconclusive``: no regression, but no verdict either
INCONCLUSIVE_EXIT = 3

class _Group(click.Group):
    """Turn the tool's own error types -- and click's usage errors (a wrong ``--format``) --
    into one-line messages with the documented exit codes."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            sys.exit(2)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.exceptions.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(0)

    def invoke(self, ctx):
        _handle_sigterm()
        from ..config import PLUGIN_ERRORS

        if PLUGIN_ERRORS:  # a runtime plugin the user named did not load: not a traceback
            click.echo(f"error: {PLUGIN_ERRORS[0]}", err=True)
            sys.exit(2)
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except CheckFailed as exc:
            click.echo(f"check failed: {exc}", err=True)
            sys.exit(exc.exit_code)
        except Terminated:
            click.echo("terminated (SIGTERM): workers stopped, the rows written so far are whole",
                       err=True)
            sys.exit(Terminated.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: workers stopped, the rows written so far are whole", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `resnext-bench report RUN | head`: the reader is gone
            _quiet_stdout()
            sys.exit(141)
        except OSError as exc:
            text = write_error_text(exc)
            if text is None:
                raise
            click.echo(f"error: {text}", err=True)
            sys.exit(2)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does not
    print a second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _handle_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` in the main thread (see there)."""
    import signal

    def raise_terminated(_signum, _frame):
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (an embedding caller): leave its handler
        pass


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _warn_skipped(run) -> None:
    """A run dir whose results.jsonl had torn or invalid lines says so, once, on stderr."""
    message = run.warning()
    if message:
        click.echo(f"warning: {message}", err=True)


def _load_run(run_dir):
    from ..core.rundir import load_run

    run = load_run(run_dir)
    _warn_skipped(run)
    return run


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resnext-bench")
def main():
    """Export the ResNeXt family to ONNX, benchmark it on several runtimes, and compare.

    \b
    Start here:
      resnext-bench doctor                                  what runs on this machine
      resnext-bench export --arch resnext50_32x4d           a checked ONNX file
      resnext-bench bench --arch resnext50_32x4d --runtime all --images builtin
      resnext-bench tune --arch resnext50_32x4d --budget-minutes 8   what to deploy here
      resnext-bench ab base.onnx new.onnx                   a CI gate on two files

    \b
    Exit codes: 0 ok, 1 regression found / check failed, 2 usage or input error, 3 no
    regression but no verdict either (ab / compare with --fail-on-inconclusive).
    """
