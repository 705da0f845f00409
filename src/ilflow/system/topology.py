"""Molecules in any periodic frame: bond graph, molecule ids, unwrapping, centres of mass, rigid rescaling.

Works on frames from anywhere (no metadata needed): bonds are recovered from distances under periodic
boundaries, d_ij < bond_scale * (r_cov_i + r_cov_j), with ASE's covalent radii.
"""

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from ilflow import units

BOND_SCALE = 1.2  # bonded if closer than 1.2 x the sum of covalent radii


def bond_pairs(atoms: Atoms, bond_scale: float = BOND_SCALE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed bonds (i, j, D) with D the vector from i to the bonded image of j (Å); both directions."""
    cutoffs = bond_scale * covalent_radii[atoms.numbers]
    i, j, D = neighbor_list("ijD", atoms, cutoffs, self_interaction=False)
    return i, j, D


def bond_graph(atoms: Atoms, bond_scale: float = BOND_SCALE) -> set[tuple[int, int]]:
    """Bonds as sorted index pairs (a bond to an atom's own periodic image is dropped)."""
    i, j, _ = bond_pairs(atoms, bond_scale)
    return {(int(a), int(b)) for a, b in zip(i, j) if a < b}


def find_molecules(atoms: Atoms, bond_scale: float = BOND_SCALE) -> np.ndarray:
    """Molecule id of every atom (connected components of the bond graph), numbered by first atom."""
    i, j, _ = bond_pairs(atoms, bond_scale)
    n = len(atoms)
    _, labels = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))  # renumber so that ids follow atom order
    return order[labels]


def molecule_ids(atoms: Atoms) -> np.ndarray:
    """The frame's `molecule_id` array if it has one, else molecules recovered from the bond graph."""
    if "molecule_id" in atoms.arrays:
        return np.asarray(atoms.arrays["molecule_id"], dtype=int)
    return find_molecules(atoms)


def unwrap_molecules(atoms: Atoms, mol_ids: np.ndarray | None = None, bond_scale: float = BOND_SCALE) -> np.ndarray:
    """Positions (Å) with every molecule whole: each atom placed at its bonded neighbour + the bond vector.

    Atoms keep their molecule's first atom as anchor; cell and atom order are unchanged.
    """
    mol_ids = molecule_ids(atoms) if mol_ids is None else np.asarray(mol_ids)
    i, j, D = bond_pairs(atoms, bond_scale)
    same = mol_ids[i] == mol_ids[j]
    i, j, D = i[same], j[same], D[same]
    n = len(atoms)
    graph = coo_matrix((np.arange(1, len(i) + 1), (i, j)), shape=(n, n)).tocsr()  # value = bond index + 1
    positions = atoms.positions.copy()
    placed = np.zeros(n, dtype=bool)
    for start in np.unique(mol_ids, return_index=True)[1]:
        order, parent = breadth_first_order(graph, start, directed=True, return_predecessors=True)
        placed[start] = True
        for atom in order[1:]:
            bond = graph[parent[atom], atom] - 1
            positions[atom] = positions[parent[atom]] + D[bond]
            placed[atom] = True
    if not placed.all():  # atoms of a molecule id that are not bonded to its first atom
        loose = np.flatnonzero(~placed)[:5]
        raise ValueError(f"atoms {loose.tolist()} are not bonded to the rest of their molecule_id")
    return positions


def centers_of_mass(atoms: Atoms, mol_ids: np.ndarray | None = None) -> np.ndarray:
    """Centre of mass (Å) of every molecule, shape (n_molecules, 3), computed from unwrapped positions."""
    mol_ids = molecule_ids(atoms) if mol_ids is None else np.asarray(mol_ids)
    positions = unwrap_molecules(atoms, mol_ids)
    masses = atoms.get_masses()
    total = np.bincount(mol_ids, weights=masses)
    return np.stack([np.bincount(mol_ids, weights=masses * positions[:, k]) for k in range(3)], axis=1) / total[:, None]


def wrap_molecules(atoms: Atoms, mol_ids: np.ndarray | None = None) -> Atoms:
    """A copy with every molecule whole and its centre of mass inside the cell."""
    mol_ids = molecule_ids(atoms) if mol_ids is None else np.asarray(mol_ids)
    out = atoms.copy()
    positions = unwrap_molecules(atoms, mol_ids)
    out.positions = positions
    com = centers_of_mass(out, mol_ids)
    com_frac = np.linalg.solve(atoms.cell.array.T, com.T).T
    shift = -np.floor(com_frac) @ atoms.cell.array
    out.positions = positions + shift[mol_ids]
    return out


def scale_cell_rigid(atoms: Atoms, new_cell, mol_ids: np.ndarray | None = None) -> Atoms:
    """A copy in `new_cell` (3x3 Å) with molecules rigid: each centre of mass keeps its fractional position."""
    mol_ids = molecule_ids(atoms) if mol_ids is None else np.asarray(mol_ids)
    new_cell = np.asarray(new_cell, dtype=float)
    positions = unwrap_molecules(atoms, mol_ids)
    out = atoms.copy()
    out.positions = positions
    com = centers_of_mass(out, mol_ids)
    com_frac = np.linalg.solve(atoms.cell.array.T, com.T).T
    out.set_cell(new_cell, scale_atoms=False)
    out.positions = positions + (com_frac @ new_cell - com)[mol_ids]
    return out


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density of a periodic frame in g/cm^3."""
    return units.density_g_cm3(float(atoms.get_masses().sum()), float(atoms.get_volume()))


def rescale_to_density(atoms: Atoms, target_density_g_cm3: float, mol_ids: np.ndarray | None = None) -> Atoms:
    """A copy scaled isotropically to `target_density_g_cm3`, molecules rigid (for density ramps, volume scans)."""
    factor = (density_g_cm3(atoms) / target_density_g_cm3) ** (1.0 / 3.0)
    return scale_cell_rigid(atoms, atoms.cell.array * factor, mol_ids)


def min_intermolecular_distance(atoms: Atoms, mol_ids: np.ndarray | None = None, cutoff: float = 4.0) -> float:
    """Smallest distance (Å) between atoms of different molecules, periodic images included.

    A pair within one molecule counts too when it is not the molecule's own (unwrapped) pair, i.e. a
    molecule touching its periodic image. Returns `cutoff` when no such pair is closer than `cutoff`.
    """
    mol_ids = molecule_ids(atoms) if mol_ids is None else np.asarray(mol_ids)
    i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    unwrapped = unwrap_molecules(atoms, mol_ids)
    own_pair = (mol_ids[i] == mol_ids[j]) & (np.abs(np.linalg.norm(unwrapped[j] - unwrapped[i], axis=1) - d) < 1e-6)
    inter = d[~own_pair]
    return float(inter.min()) if inter.size else float(cutoff)
