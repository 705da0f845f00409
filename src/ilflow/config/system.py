"""What the liquid is made of (`species`) and how its boxes are packed (`box`)."""

from typing import Annotated, Literal

from pydantic import Field, field_validator

from ilflow.config.base import Fraction, PositiveFloat, PositiveInt, Section, Seed


class Species(Section):
    """One molecule or ion of the liquid, `count` copies per box."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+\-]+$", max_length=32)]
    smiles: Annotated[str, Field(min_length=1)]
    count: PositiveInt
    conformers: PositiveInt = 1  # distinct RDKit conformers the copies are spread over

    @field_validator("smiles")
    @classmethod
    def _no_whitespace(cls, smiles: str) -> str:
        if any(ch.isspace() for ch in smiles):
            raise ValueError(f"SMILES {smiles!r} contains white space; write one molecule per species")
        return smiles


class Box(Section):
    """A periodic box packed with PACKMOL at a target density."""

    density_g_cm3: PositiveFloat
    tolerance_A: PositiveFloat = 2.0  # smallest intermolecular distance PACKMOL aims for
    seed: Seed = 42
    aspect_ratio: tuple[PositiveFloat, PositiveFloat, PositiveFloat] = (1.0, 1.0, 1.0)  # a:b:c of the orthorhombic cell
    # force-field relaxation of each conformer (MMFF falls back to UFF), then CL&P where a shipped template matches
    relax: Literal["mmff", "uff", "none"] = "mmff"
    allow_net_charge: bool = False
    max_packed_fraction: Fraction = 0.45  # refuse to pack above this estimated fraction (see system.packing)
    packmol_timeout_s: PositiveFloat = 600.0
