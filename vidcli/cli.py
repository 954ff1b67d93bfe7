"""The `vidcli` command line: the group with its global options and error handling, and its commands."""

from __future__ import annotations

import signal
import json
import sys
import traceback
from pathlib import Path

import click

from vidcli import __version__, console
from vidcli.commands.common import CONTEXT, Globals
from vidcli.errors import EXIT_INTERRUPTED, EXIT_STAGE_FAILED, EXIT_TERMINATED, Terminated, VidcliError


class VidcliGroup(click.Group):
    """Turns vidcli errors into one-line messages and their exit codes (tracebacks with -v)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VidcliError as exc:
            _fail(ctx, str(exc), exc.exit_code)
        except Terminated:
            _fail(ctx, "terminated", EXIT_TERMINATED)
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except OSError as exc:  # the machine failed (disk full, permissions): exit 1 with the OS's words
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(ctx, f"{where}{exc.strerror or exc}", EXIT_STAGE_FAILED)
        except Exception as exc:  # a bug: say so in one line, details with -v
            _fail(ctx, f"internal error: {type(exc).__name__}: {exc}", 1)


def _terminate(_signum, _frame):
    raise Terminated()


def _fail(ctx, message: str, code: int):
    if console.verbosity() >= 1 and sys.exc_info()[0] is not None:
        console.console.print(traceback.format_exc(), markup=False)
    console.error(message)
    if getattr(ctx.obj, "as_json", False):  # --json: stdout holds one JSON document whatever happens
        click.echo(json.dumps({"error": message, "exit_code": code}))
    ctx.exit(code)


@click.group(cls=VidcliGroup, context_settings=CONTEXT, epilog="Example: vidcli frames clip.mp4 --max-size 640")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), envvar="VIDCLI_WORKSPACE",
              default="vidcli-work", show_default=True, help="Where artifacts are cached (env VIDCLI_WORKSPACE).")
@click.option("-v", "--verbose", count=True, help="More detail; -v shows tracebacks, -vv Luigi's log.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON results on stdout.")
@click.version_option(__version__, prog_name="vidcli")
@click.pass_context
def main(ctx, workspace, verbose, quiet, as_json):
    """vidcli: videos to 3D human motion and edited video, every stage cached on disk."""
    signal.signal(signal.SIGTERM, _terminate)  # from here on, SIGTERM ends the command like Ctrl-C
    verbosity = -1 if quiet else verbose
    if quiet:
        console.silence_native_output()
    console.setup(verbosity)
    given = ctx.get_parameter_source("workspace") == click.core.ParameterSource.COMMANDLINE
    ctx.obj = Globals(workspace, given, verbosity, as_json)


def _register() -> None:
    from vidcli.commands import (animate, canonical, engine, evaluate, flow, frames, inpaint, mocap, models,
                                 predict, settings, synth, tracks, train)

    commands = (engine.run, engine.plan, engine.clean, models.models, settings.settings_command,
                frames.frames, flow.flow, tracks.tracks, mocap.mocap, animate.animate, inpaint.inpaint,
                inpaint.remove, canonical.canonical, canonical.propagate, predict.predict, synth.synth,
                train.synth_flow, train.train, evaluate.eval_command)
    for command in commands:
        main.add_command(command)


_register()
