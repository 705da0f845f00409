"""Molecules and boxes: SMILES -> conformers (RDKit), packing (PACKMOL), molecules in periodic frames."""

from ilflow.system.box import BoxPlan, build_box, build_molecules, cell_lengths_A, plan_box, summarize
from ilflow.system.packing import packed_fraction, run_packmol
from ilflow.system.species import Molecule, molecule_from_smiles
from ilflow.system.topology import (
    bond_graph,
    centers_of_mass,
    density_g_cm3,
    find_molecules,
    min_intermolecular_distance,
    molecule_ids,
    rescale_to_density,
    scale_cell_rigid,
    unwrap_molecules,
    wrap_molecules,
)

__all__ = [
    "BoxPlan",
    "Molecule",
    "bond_graph",
    "build_box",
    "build_molecules",
    "cell_lengths_A",
    "centers_of_mass",
    "density_g_cm3",
    "find_molecules",
    "min_intermolecular_distance",
    "molecule_from_smiles",
    "molecule_ids",
    "packed_fraction",
    "plan_box",
    "rescale_to_density",
    "run_packmol",
    "scale_cell_rigid",
    "summarize",
    "unwrap_molecules",
    "wrap_molecules",
]
