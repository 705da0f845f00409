"""What the command modules share: the consoles, the help panels, the campaign argument and `--dir` option,
and opening a campaign, its project directory or a dataset. Heavy imports stay inside the functions."""

import math
import os
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


def finite(text: str) -> float:
    """Parser of every float option: a finite number (NaN and infinities are refused with the option's name)."""
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{text} is not a finite number")
    return value


def FiniteOption(*args, **kwargs):  # noqa: N802 (reads like typer.Option, which it wraps)
    """`typer.Option` of a float that must be finite."""
    return typer.Option(*args, parser=finite, **kwargs)


def load_project(campaign: Optional[Path], directory: Optional[Path], create: bool = True):
    """(loaded campaign, Project) for the commands that run stages; a directory of another campaign is refused,
    and so (unless `create`) is one that is no project yet (a mistyped --dir is not a project of nothing)."""
    from ilflow.project import PROJECT_FILE, Project

    _, loaded, root = load_campaign_dir(campaign, directory)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--dir {str(root)!r} is a file; give the project directory")
    if (root / "model.json").exists():
        raise ConfigError(f"--dir {str(root)!r} is a model directory; give a project directory of its own")
    if not create and not (root / PROJECT_FILE).is_file():
        raise ConfigError(f"{str(root)!r} is not an ilflow project (no {PROJECT_FILE}); give the --dir where "
                          f"`ilflow run` ran campaign {loaded.name!r}, or run it there first")
    project = Project(root)
    project.claim(loaded.name)
    return loaded, project


def open_dataset(db: str, create: bool = False):
    """The dataset at `db` (ase.db path or URL), checked before any work starts: a missing file (unless
    `create`), a directory or a file that is not an ase.db is a ConfigError that names it."""
    from ilflow.cli.guard import SQLITE_MAGIC, describe
    from ilflow.data import Dataset

    path = Path(db)
    if "://" not in db:
        if not path.exists() and not create:
            raise ConfigError(f"dataset {db!r} does not exist; label frames into it first (ilflow label ... --db {db})")
        if path.is_dir():
            raise ConfigError(f"dataset {db!r} is a directory; give an ase.db file (e.g. "
                              f"{db.rstrip('/')}/data.db)")
        if path.is_file() and path.suffix != ".json":
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
            if head != SQLITE_MAGIC:
                raise ConfigError(f"dataset {db!r} is {describe(path)}, not an ase.db (SQLite) file; give the "
                                  "dataset's path")
    target = path if path.exists() else path.parent.resolve()
    if create and "://" not in db and not os.access(target, os.W_OK):
        raise ConfigError(f"dataset {db!r} cannot be written (permissions of {str(target)!r}); give a path you can "
                          "write to")
    dataset = Dataset(db)
    try:
        len(dataset)  # opens it: a truncated or corrupt file fails here, not after the first label
    except Exception as exc:  # sqlite3, psycopg and ase raise their own kinds
        reason = " ".join(str(exc).split())
        raise ConfigError(f"dataset {db!r} cannot be read as an ase.db ({reason}); restore it from a copy, or give "
                          "another path") from None
    return dataset
