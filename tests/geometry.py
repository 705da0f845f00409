"""Independent geometry helpers for tests (brute force, no ilflow code)."""

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from rdkit import Chem

AVOGADRO = 6.02214076e23


def density_g_cm3(atoms: Atoms) -> float:
    """Mass (from ASE's atomic masses) over cell volume, converted by hand."""
    return atoms.get_masses().sum() / AVOGADRO / (abs(np.linalg.det(atoms.cell.array)) * 1e-24)


def smiles_bonds(smiles: str) -> set[tuple[int, int]]:
    """Bond graph with hydrogens of a SMILES, atoms in RDKit's AddHs order."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    return {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}


def smiles_charge(smiles: str) -> int:
    return Chem.GetFormalCharge(Chem.MolFromSmiles(smiles))


def distance_bonds(atoms: Atoms, indices: np.ndarray, scale: float = 1.2) -> set[tuple[int, int]]:
    """Bonds among `indices` by minimum-image distance < scale x (sum of covalent radii), local numbering."""
    sub = atoms[indices]
    d = sub.get_all_distances(mic=True)
    r = covalent_radii[sub.numbers]
    bonded = d < scale * (r[:, None] + r[None, :])
    np.fill_diagonal(bonded, False)
    return {(int(i), int(j)) for i, j in zip(*np.nonzero(bonded)) if i < j}


def min_intermolecular_mic(atoms: Atoms, mol_ids: np.ndarray) -> float:
    """Smallest minimum-image distance between atoms of different molecules."""
    d = atoms.get_all_distances(mic=True)
    return float(d[mol_ids[:, None] != mol_ids[None, :]].min())


VOIGT_PAIRS = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def strain_derivative_stress(energy_of, atoms: Atoms, h: float) -> np.ndarray:
    """(1/V) dE/d(strain) by central differences, Voigt order, for `energy_of(atoms) -> eV`."""
    out = []
    for i, j in VOIGT_PAIRS:
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] = eps[j, i] = sign * (h if i == j else h / 2)
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            energies.append(energy_of(strained))
        out.append((energies[0] - energies[1]) / (2 * h) / atoms.get_volume())
    return np.array(out)
