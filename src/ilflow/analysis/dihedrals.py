"""Dihedral angles of groups found by SMARTS, and their distributions over growing parts of a run.

Molecules are RDKit graphs built from the frame's bond graph (ilflow.system.topology bonds, with the helper
of ilflow.classical.forcefield): elements and single bonds only, no aromaticity or charges. SMARTS must
therefore use element numbers, H counts and degrees ([#7], [CH2], [CX4]), not aromatic or charged atoms
([n+] never matches). The defaults pick the butyl chain of 1-butyl-3-methylimidazolium (BMIM): the ring N
bonded to the chain, and the chain's carbons.

Angles follow the IUPAC convention (trans = 180 degrees, cis = 0), from the bond vectors b1 = x2 - x1,
b2 = x3 - x2, b3 = x4 - x3 taken at their minimum image: phi = atan2(|b2| b1 . (b2 x b3), (b1 x b2) . (b2 x b3))
(Blondel & Karplus, J. Comput. Chem. 17, 1132 (1996)), reported in (-180, 180].
"""

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from ilflow.analysis.trajectory import AnalysisError, Trajectory, minimum_image

BMIM_DIHEDRALS = {
    "N-C-C-C": "[#7]-[CH2]-[CH2]-[CH2]",  # ring N1 - C1 - C2 - C3 of the butyl chain
    "C-C-C-C": "[CH2]-[CH2]-[CH2]-[CH3]",  # C1 - C2 - C3 - C4
}


def find_dihedrals(atoms: Atoms, smarts: str) -> np.ndarray:
    """Atom index quadruples (M, 4) in `atoms` matching a 4-atom SMARTS, each match once, molecule by molecule.

    Molecules: atoms.arrays['molecule_id'] if present, else connected bond-graph components; bonds from
    interatomic distances under periodic boundaries (ilflow.system.topology.bond_graph).
    """
    from rdkit import Chem

    from ilflow.classical.forcefield import graph_mol
    from ilflow.system.topology import bond_graph, molecule_ids

    pattern = Chem.MolFromSmarts(smarts)
    if pattern is None or pattern.GetNumAtoms() != 4:
        raise AnalysisError(f"{smarts!r} is not a valid SMARTS of 4 atoms")
    ids = molecule_ids(atoms)
    bonds = np.array(sorted(bond_graph(atoms)), dtype=int).reshape(-1, 2)
    found = []
    for m in np.unique(ids):
        members = np.flatnonzero(ids == m)
        local = np.full(len(atoms), -1)
        local[members] = np.arange(len(members))
        inside = bonds[(local[bonds[:, 0]] >= 0) & (local[bonds[:, 1]] >= 0)]
        mol = graph_mol(atoms.numbers[members], local[inside])
        mol.UpdatePropertyCache(strict=False)  # H counts and degrees for the SMARTS query
        Chem.FastFindRings(mol)
        found += [members[list(match)] for match in mol.GetSubstructMatches(pattern)]
    return np.array(found, dtype=int).reshape(-1, 4)


def dihedral_angles(positions: np.ndarray, cells: np.ndarray, quadruples: np.ndarray) -> np.ndarray:
    """Dihedral angles (F, M) in degrees, (-180, 180], of quadruples (M, 4) in positions (F, N, 3) or (N, 3) Å,
    cells (F, 3, 3) or (3, 3) Å; bond vectors at their minimum image (molecules may be split by the boundary)."""
    x = np.asarray(positions, dtype=float)
    single = x.ndim == 2
    x = x[None] if single else x
    cells = np.asarray(cells, dtype=float)
    cells = cells if cells.ndim == 2 else cells[:, None]
    q = np.asarray(quadruples, dtype=int).reshape(-1, 4)
    b1, b2, b3 = (minimum_image(x[:, q[:, k + 1]] - x[:, q[:, k]], cells) for k in range(3))
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    phi = np.degrees(np.arctan2(np.linalg.norm(b2, axis=-1) * np.sum(b1 * n2, axis=-1), np.sum(n1 * n2, axis=-1)))
    phi = np.where(phi <= -180.0, phi + 360.0, phi)
    return phi[0] if single else phi


def trajectory_dihedrals(traj: Trajectory, smarts: str = BMIM_DIHEDRALS["N-C-C-C"]) -> tuple[np.ndarray, np.ndarray]:
    """(quadruples (M, 4) found in the first frame, angles (F, M) in degrees over the whole trajectory)."""
    quadruples = find_dihedrals(traj.atoms(0), smarts)
    if not len(quadruples):
        raise AnalysisError(f"no atoms of the trajectory match the SMARTS {smarts!r} (SMARTS here see elements and "
                            "bonds only: write [#7] rather than n or [n+])")
    return quadruples, dihedral_angles(traj.positions, traj.cells, quadruples)


def distributions_over_windows(angles_deg: np.ndarray, windows: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
                               bins: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of angles (F, M) in degrees over the first fraction w of the frames, for every w in windows.

    Returns bin centres (bins,) in degrees over (-180, 180] and probability densities (len(windows), bins) in
    1/degree, each integrating to 1 (all M dihedrals pooled); shows whether a distribution has converged.
    """
    angles = np.asarray(angles_deg, dtype=float)
    angles = angles[:, None] if angles.ndim == 1 else angles
    edges = np.linspace(-180.0, 180.0, bins + 1)
    densities = []
    for w in windows:
        if not 0 < w <= 1:
            raise AnalysisError(f"window fractions must be in (0, 1], not {w}")
        n = max(1, int(np.ceil(w * len(angles) - 1e-9)))
        densities.append(np.histogram(angles[:n].ravel(), bins=edges, density=True)[0])
    return 0.5 * (edges[1:] + edges[:-1]), np.array(densities)
