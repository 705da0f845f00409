"""Set-up commands: `validate` a campaign file, `build` a box."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ilflow.cli.guard import output_file
from ilflow.cli.options import FiniteOption, console
from ilflow.errors import ConfigError


def validate(campaign: Annotated[Path, typer.Argument(help="campaign.yaml to check")]) -> None:
    """Check a campaign file: every key typed, unknown keys and bad values reported with their line; then what
    takes seconds: the SMILES (RDKit), the net charge and whether the box can be packed at its density."""
    from ilflow.config import load_campaign
    from ilflow.preflight import check_campaign

    loaded = load_campaign(campaign)
    found = check_campaign(loaded)
    species = ", ".join(f"{s.count} {s.name}" for s in loaded.species)
    console.print(f"[green]ok[/green] {campaign}: campaign {loaded.name!r}, {species} ({found.atoms} atoms, charge "
                  f"{found.charge_e:+d} e), box at {loaded.box.density_g_cm3} g/cm3 (molecules fill "
                  f"{found.packed_fraction:.2f} of it), reference {loaded.reference.method}")
    if found.without_clandp:
        console.print(f"initial data: bootstrap frames (no shipped CL&P parameters for "
                      f"{', '.join(found.without_clandp)}), not classical MD")
    console.print("experiment: " + "; ".join(f"{quantity} {path or 'none (no comparison in the report)'}"
                                             for quantity, path in found.experimental_tables))


def _parse_species(specs: list[str]):
    """`NAME:COUNT:SMILES` strings -> Species (SMILES may itself contain ':')."""
    from pydantic import ValidationError

    from ilflow.config import Species

    species, seen = [], set()
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1].strip().lstrip("-").isdigit():
            raise ConfigError(f"--species {spec!r}: write NAME:COUNT:SMILES, e.g. BMIM:10:CCCCn1cc[n+](C)c1")
        if parts[0] in seen:
            raise ConfigError(f"--species {spec!r}: a species named {parts[0]!r} was given before; give each species "
                              "once, with its total count")
        seen.add(parts[0])
        try:
            species.append(Species(name=parts[0], count=int(parts[1]), smiles=parts[2]))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"--species {spec!r}: {details}") from None
    return species


def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output extxyz file.")] = Path("box.extxyz"),
    campaign: Annotated[Optional[Path], typer.Option(help="Take species and box from this campaign file.")] = None,
    species: Annotated[
        Optional[list[str]], typer.Option("--species", "-s", help="NAME:COUNT:SMILES, repeat per species.")
    ] = None,
    density_g_cm3: Annotated[Optional[float], FiniteOption(help="Target density in g/cm3.")] = None,
    tolerance_A: Annotated[Optional[float], FiniteOption(help="PACKMOL tolerance in Å [default 2.0].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for RDKit and PACKMOL [default 42].")] = None,
    relax: Annotated[Optional[str], typer.Option(help="Conformer relaxation: mmff, uff or none [default mmff].")] = None,
    allow_net_charge: Annotated[bool, typer.Option(help="Allow a box with net charge.")] = False,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not a box this command wrote.")] = False,
) -> None:
    """Pack a periodic liquid box from SMILES (RDKit conformers + PACKMOL) and write it as extxyz."""
    from pydantic import ValidationError

    from ilflow.config import Box, load_campaign
    from ilflow.io import write_frames
    from ilflow.system import build_box, summarize

    output_file("--out", out, "extxyz", inputs=[campaign], force=force)
    if campaign is not None and species:
        raise ConfigError("give --campaign FILE or --species (repeated), not both: the campaign's species would be "
                          "replaced silently")
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
        details = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')} {e['input']}: {e['msg']}"
                            for e in exc.errors())
        raise ConfigError(details) from None

    with console.status("packing with PACKMOL..."):
        atoms = build_box(species_list, box)
    write_frames(out, atoms)
    console.print(f"{out}: {summarize(atoms)}")
