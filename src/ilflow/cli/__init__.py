"""The `ilflow` command line. Bad input prints one clear message (no traceback) and exits with status 2.

The commands live in one module per help panel (setup, workflow, labels, model, simulation); what they share
(consoles, panels, the campaign argument and --dir option, opening a campaign or dataset) is in options.
"""

import sys
import traceback
from typing import Annotated

import typer

from ilflow import __version__
from ilflow.cli import labels, model, setup, simulation, workflow
from ilflow.cli.options import (LABELS, MODEL, SETUP, SIMULATE, WORKFLOW, FiniteOption, console, demo_campaign_path,
                                err_console)
from ilflow.errors import IlflowError

__all__ = ["app", "demo_campaign_path", "main"]

app = typer.Typer(
    name="ilflow",
    help="From a liquid given as SMILES to a learned potential, long MD and observables with error bars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

COMMANDS = {
    SETUP: [setup.validate, setup.build],
    WORKFLOW: [workflow.run, workflow.learn, workflow.simulate, workflow.analyze, workflow.report, workflow.status],
    LABELS: [labels.label],
    MODEL: [model.train, model.evaluate],
    SIMULATE: [simulation.md, simulation.classical],
}
for panel, commands in COMMANDS.items():
    for command in commands:
        app.command(rich_help_panel=panel)(command)
app.add_typer(labels.data_app, name="data", rich_help_panel=LABELS)


def _version(value: bool) -> None:
    if value:
        console.print(f"ilflow {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", envvar="ILFLOW_QUIET",
        help="Show only warnings and errors while a command runs (the project's ilflow.log keeps every line).",
    )] = False,
    log_json: Annotated[bool, typer.Option(
        "--log-json", envvar="ILFLOW_LOG_JSON",
        help="Write the log as JSON objects, one per line (time, level, logger, message, progress), for batch "
             "systems and scripts.")] = False,
    progress_interval_s: Annotated[float, FiniteOption(
        "--progress-interval-s", envvar="ILFLOW_PROGRESS_INTERVAL_S",
        help="Seconds between the progress lines of a long task when the output is no terminal.")] = 30.0,
) -> None:
    """ilflow: SMILES -> boxes -> reference labels -> learned potential -> MD -> observables."""
    from ilflow import configure_jax, progress
    from ilflow.cli import render

    if progress_interval_s < 1.0:
        raise typer.BadParameter(f"{progress_interval_s:g} s: use at least 1 s", param_hint="--progress-interval-s")
    configure_jax()  # 64-bit JAX and the compilation cache, for every command (importing ilflow sets neither)
    render.output = render.Output(quiet=quiet, json=log_json)
    progress.INTERVAL_S = progress_interval_s


BUG_REPORT = ("this is a bug in ilflow, not in your input: please report it with the command you ran and the "
              "traceback above")


def _error(message: str, code: int) -> None:
    err_console.print("[bold red]error:[/bold red] ", end="")
    err_console.print(message, markup=False, highlight=False)
    sys.exit(code)


def main() -> None:
    """Console entry point, the one error boundary: a failure the user can fix (IlflowError, and the file
    system's own errors: permissions, a full disk, a directory where a file goes) is one message on stderr and
    exit 2; anything else is a bug: its traceback, a request to report it, exit 1."""
    try:
        app(standalone_mode=True)
    except IlflowError as exc:
        _error(str(exc), exc.exit_code)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}; check the path, its permissions and the free space", 2)
    except RecursionError:
        _error("an input is nested too deeply to read (a YAML or JSON file of thousands of levels?)", 2)
    except KeyboardInterrupt:
        err_console.print("interrupted; completed stages are kept, run the same command again to resume")
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        _error(BUG_REPORT, 1)
