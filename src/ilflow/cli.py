"""The `ilflow` command line. Bad input prints one clear message (no traceback) and exits with status 2."""

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ilflow import __version__
from ilflow.errors import ConfigError, IlflowError

app = typer.Typer(
    name="ilflow",
    help="From a liquid given as SMILES to a learned potential, long MD and observables with error bars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

SETUP = "Set-up"
WORKFLOW = "Workflow"


def demo_campaign_path() -> Path:
    """The embedded default campaign (BMIM-BF4 with GFN2-xTB), shipped inside the package."""
    return Path(str(resources.files("ilflow") / "examples" / "demo.yaml"))


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


@app.command(rich_help_panel=SETUP)
def validate(campaign: Annotated[Path, typer.Argument(help="campaign.yaml to check")]) -> None:
    """Check a campaign file: every key typed, unknown keys and bad values reported with their line."""
    from ilflow.config import load_campaign

    loaded = load_campaign(campaign)
    species = ", ".join(f"{s.count} {s.name}" for s in loaded.species)
    console.print(f"[green]ok[/green] {campaign}: campaign {loaded.name!r}, {species}, "
                  f"box at {loaded.box.density_g_cm3} g/cm3, reference {loaded.reference.method}")


def _parse_species(specs: list[str]):
    """`NAME:COUNT:SMILES` strings -> Species (SMILES may itself contain ':')."""
    from pydantic import ValidationError

    from ilflow.config import Species

    species = []
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1].strip().lstrip("-").isdigit():
            raise ConfigError(f"--species {spec!r}: write NAME:COUNT:SMILES, e.g. BMIM:10:CCCCn1cc[n+](C)c1")
        try:
            species.append(Species(name=parts[0], count=int(parts[1]), smiles=parts[2]))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"--species {spec!r}: {details}") from None
    return species


@app.command(rich_help_panel=SETUP)
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output extxyz file.")] = Path("box.extxyz"),
    campaign: Annotated[Optional[Path], typer.Option(help="Take species and box from this campaign file.")] = None,
    species: Annotated[
        Optional[list[str]], typer.Option("--species", "-s", help="NAME:COUNT:SMILES, repeat per species.")
    ] = None,
    density_g_cm3: Annotated[Optional[float], typer.Option(help="Target density in g/cm3.")] = None,
    tolerance_A: Annotated[Optional[float], typer.Option(help="PACKMOL tolerance in Å [default 2.0].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for RDKit and PACKMOL [default 42].")] = None,
    relax: Annotated[Optional[str], typer.Option(help="Conformer relaxation: mmff, uff or none [default mmff].")] = None,
    allow_net_charge: Annotated[bool, typer.Option(help="Allow a box with net charge.")] = False,
) -> None:
    """Pack a periodic liquid box from SMILES (RDKit conformers + PACKMOL) and write it as extxyz."""
    from pydantic import ValidationError

    from ilflow.config import Box, load_campaign
    from ilflow.io import write_frames
    from ilflow.system import build_box, summarize

    if campaign is not None:
        loaded = load_campaign(campaign)
        species_list, box_settings = list(loaded.species), loaded.box.model_dump()
    else:
        if not species:
            raise ConfigError("give --campaign FILE, or --species NAME:COUNT:SMILES (repeated) and --density-g-cm3")
        if density_g_cm3 is None:
            raise ConfigError("--density-g-cm3 is required with --species")
        species_list, box_settings = [], {}
    if species:
        species_list = _parse_species(species)
    overrides = {"density_g_cm3": density_g_cm3, "tolerance_A": tolerance_A, "seed": seed, "relax": relax}
    box_settings.update({k: v for k, v in overrides.items() if v is not None})
    if allow_net_charge:
        box_settings["allow_net_charge"] = True
    try:
        box = Box(**box_settings)
    except ValidationError as exc:
        details = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise ConfigError(details) from None

    with console.status("packing with PACKMOL..."):
        atoms = build_box(species_list, box)
    write_frames(out, atoms)
    console.print(f"{out}: {summarize(atoms)}")


@app.command(rich_help_panel=WORKFLOW)
def run(
    campaign: Annotated[
        Optional[Path], typer.Argument(help="campaign.yaml [default: the embedded BMIM-BF4 demo]")
    ] = None,
    directory: Annotated[
        Optional[Path], typer.Option("--dir", "-d", help="Project directory [default: ./<campaign name>].")
    ] = None,
) -> None:
    """Run a campaign in its project directory; completed stages are skipped.

    Stages so far: build (the campaign's box). Later stages join as they are built.
    """
    from ilflow.config import load_campaign
    from ilflow.workflow import run_campaign

    path = campaign or demo_campaign_path()
    loaded = load_campaign(path)
    root = directory or Path(loaded.name)
    console.print(f"campaign [bold]{loaded.name}[/bold] from {path} in {root}/")
    run_campaign(loaded, root, console)


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
