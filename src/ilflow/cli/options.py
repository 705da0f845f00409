"""What the command modules share: the consoles, the help panels, the campaign argument and `--dir` option,
and opening a campaign, its project directory or a dataset. Heavy imports stay inside the functions."""

from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ilflow.errors import ConfigError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

SETUP = "Set-up"
WORKFLOW = "Workflow"
LABELS = "Labels and data"
MODEL = "Model"
SIMULATE = "Simulation"

CampaignArg = Annotated[Optional[Path], typer.Argument(help="campaign.yaml [default: the embedded BMIM-BF4 demo]")]
DirOption = Annotated[Optional[Path], typer.Option("--dir", "-d", help="Project directory [default: ./<campaign name>].")]


def demo_campaign_path() -> Path:
    """The embedded default campaign (BMIM-BF4 with GFN2-xTB), shipped inside the package."""
    return Path(str(resources.files("ilflow") / "examples" / "demo.yaml"))


def load_campaign_dir(campaign: Optional[Path], directory: Optional[Path]):
    """(campaign file, loaded campaign, project directory): the demo when no file is given, ./<campaign name>
    when no directory is."""
    from ilflow.config import load_campaign

    path = campaign or demo_campaign_path()
    loaded = load_campaign(path)
    return path, loaded, directory or Path(loaded.name)


def load_project(campaign: Optional[Path], directory: Optional[Path]):
    """(loaded campaign, Project) for the commands that run stages; a directory of another campaign is refused."""
    from ilflow.project import Project

    _, loaded, root = load_campaign_dir(campaign, directory)
    project = Project(root)
    project.claim(loaded.name)
    return loaded, project


def open_dataset(db: str):
    """The dataset at `db` (ase.db path or URL); a missing file is a ConfigError that says how to make one."""
    from ilflow.data import Dataset

    if "://" not in db and not Path(db).is_file():
        raise ConfigError(f"dataset {db!r} does not exist; label frames into it first (ilflow label ... --db {db})")
    return Dataset(db)
