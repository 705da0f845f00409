"""The `ilflow` command line. Bad input prints one clear message (no traceback) and exits with status 2.

The commands live in one module per help panel (setup, workflow, labels, model, simulation); what they share
(consoles, panels, the campaign argument and --dir option, opening a campaign or dataset) is in options.
"""

import sys
from typing import Annotated

import typer

from ilflow import __version__
from ilflow.cli import labels, model, setup, simulation, workflow
from ilflow.cli.options import LABELS, MODEL, SETUP, SIMULATE, WORKFLOW, console, demo_campaign_path, err_console
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
) -> None:
    """ilflow: SMILES -> boxes -> reference labels -> learned potential -> MD -> observables."""
    from ilflow import configure_jax

    configure_jax()  # 64-bit JAX and the compilation cache, for every command (importing ilflow sets neither)


def main() -> None:
    """Console entry point: IlflowError -> one message on stderr, exit 2."""
    try:
        app(standalone_mode=True)
    except IlflowError as exc:
        err_console.print("[bold red]error:[/bold red] ", end="")
        err_console.print(str(exc), markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; completed stages are kept, run the same command again to resume")
        sys.exit(130)
