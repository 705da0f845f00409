"""Workflow commands over a campaign's project directory: `run` (all stages up to --until), `learn`, and the
single stages `simulate`, `analyze`, `report` (ilflow.workflow does the work)."""

from typing import Annotated

import typer

from ilflow.cli.options import CampaignArg, DirOption, console, load_campaign_dir, load_project
from ilflow.errors import ConfigError


def run(
    campaign: CampaignArg = None,
    directory: DirOption = None,
    until: Annotated[str, typer.Option(help="Last stage to run: build, initial, learning, production, analysis or "
                                       "report.")] = "report",
) -> None:
    """Run a campaign in its project directory, from SMILES to the report; completed stages are skipped.

    Stages: build (the box), initial (classical CL&P frames), learning (learning on the fly), production
    (MD at the campaign's state points), analysis (RDF, diffusion, density, dihedrals) and report (HTML).
    """
    from ilflow.workflow import STAGES, run_campaign

    if until not in STAGES:
        raise ConfigError(f"--until {until!r}: choose one of {', '.join(STAGES)}")
    path, loaded, root = load_campaign_dir(campaign, directory)
    console.print(f"campaign [bold]{loaded.name}[/bold] from {path} in {root}/")
    run_campaign(loaded, root, console, until)


def learn(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """Learning on the fly (paper Table 1): build, initial data, then sample -> select -> label -> retrain per
    iteration; kill it at any moment and run it again to continue."""
    run(campaign, directory, "learning")


def simulate(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """Production MD at the campaign's state points with the final learned model (pack -> relax -> rescale to
    density -> equilibrate -> produce), independent runs as Dask tasks; kill and run again to continue."""
    from ilflow.workflow import production_stage

    loaded, project = load_project(campaign, directory)
    production_stage(loaded, project, console)


def analyze(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """RDFs, MSDs and diffusion (Yeh-Hummer, 1/L, Arrhenius), NPT densities and dihedral distributions of the
    production runs -> <dir>/analysis/results.json and figures."""
    from ilflow.workflow import analysis_stage

    loaded, project = load_project(campaign, directory)
    analysis_stage(loaded, project, console)


def report(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """The self-contained HTML report of a project (<dir>/report/report.html) and results.json."""
    from ilflow.workflow import report_stage

    loaded, project = load_project(campaign, directory)
    report_stage(loaded, project, console)
