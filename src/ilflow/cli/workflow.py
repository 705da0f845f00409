"""Workflow commands over a campaign's project directory: `run` (all stages up to --until), `learn`, the
single stages `simulate`, `analyze`, `report`, and `status` (ilflow.workflow does the work)."""

from typing import Annotated

import typer

from ilflow.cli.options import CampaignArg, DirOption, console, load_campaign_dir, load_project
from ilflow.cli.render import logging_to
from ilflow.errors import ConfigError


def run(
    campaign: CampaignArg = None,
    directory: DirOption = None,
    until: Annotated[str, typer.Option(help="Last stage to run: build, initial, learning, final (the final "
                                       "models), production, analysis or report.")] = "report",
) -> None:
    """Run a campaign in its project directory, from SMILES to the report; completed stages are skipped.

    Stages: build (the box), initial (classical CL&P frames), learning (learning on the fly), final (the final
    models: variants of the labels, e.g. with or without dispersion), production (MD at the campaign's state
    points), analysis (RDF, diffusion, density, dihedrals, force uncertainty) and report (HTML).
    """
    from ilflow.workflow import STAGE_NAMES, run_campaign

    if until not in STAGE_NAMES:
        raise ConfigError(f"--until {until!r}: choose one of {', '.join(STAGE_NAMES)}")
    from ilflow.preflight import check_campaign

    path, loaded, root = load_campaign_dir(campaign, directory)
    console.print(f"campaign [bold]{loaded.name}[/bold] from {path} in {root}/")
    check_campaign(loaded)  # SMILES, charge, packability: seconds now rather than a failed stage later
    load_project(campaign, directory)  # before anything is written: a directory of another campaign is refused
    with logging_to(root):
        run_campaign(loaded, root, until)


def learn(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """Learning on the fly (paper Table 1): build, initial data, then sample -> select -> label -> retrain per
    iteration, then the final models; kill it at any moment and run it again to continue."""
    run(campaign, directory, "final")


def simulate(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """Production MD at the campaign's state points with the final learned model (pack -> relax -> rescale to
    density -> equilibrate -> produce), independent runs as Dask tasks; kill and run again to continue."""
    from ilflow.workflow import production_stage

    loaded, project = load_project(campaign, directory, create=False)
    with logging_to(project.root):
        production_stage(loaded, project)


def analyze(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """RDFs, MSDs and diffusion (Yeh-Hummer, 1/L, Arrhenius), NPT densities, dihedral distributions and the force
    uncertainty (runs that extrapolate flagged) of the production runs -> <dir>/analysis/results.json and figures."""
    from ilflow.workflow import analysis_stage

    loaded, project = load_project(campaign, directory, create=False)
    with logging_to(project.root):
        analysis_stage(loaded, project)


def report(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """The self-contained HTML report of a project (<dir>/report/report.html) and results.json."""
    from ilflow.workflow import report_stage

    loaded, project = load_project(campaign, directory, create=False)
    with logging_to(project.root):
        report_stage(loaded, project)


STATE_COLOURS = {"done": "green", "stale": "yellow", "missing": "dim", "running": "cyan", "interrupted": "magenta",
                 "unused": "dim"}


def status(campaign: CampaignArg = None, directory: DirOption = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Every stage of a project: done, stale (and which input changed), missing, running or interrupted, and
    what `ilflow run` would redo or reuse."""
    import json
    from dataclasses import asdict

    from ilflow.workflow import campaign_status

    _, loaded, root = load_campaign_dir(campaign, directory)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--dir {str(root)!r} is a file; give the project directory")
    lines = campaign_status(loaded, root)
    if as_json:
        console.print_json(json.dumps({"campaign": loaded.name, "directory": str(root),
                                       "stages": [asdict(line) for line in lines]}))
        return
    console.print(f"campaign [bold]{loaded.name}[/bold] in {root}/")
    for line in lines:
        why = f" ({', '.join(line.changed)})" if line.changed else ""
        detail = f"; {line.detail}" if line.detail else ""
        console.print(f"  [{STATE_COLOURS[line.state]}]{line.state:<11}[/] {line.stage}{why}{detail}", highlight=False)
    redo = [line.stage for line in lines if line.state not in ("done", "unused")]
    console.print(f"ilflow run would redo {len(redo)} of {len(lines)} stages" + (f", from {redo[0]}" if redo else ""))
