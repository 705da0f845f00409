"""Is a molecule's 3D geometry chemically sound? Reference bond lengths, defects, and ideal polyhedra.

RDKit's ETKDG with MMFF94 (UFF where MMFF lacks parameters) embeds organic ions well, but a hypervalent centre
with six ligands comes out broken: UFF has no octahedral phosphorus, and the embedded PF6- has an F-F distance of
0.92 Å and P-F bonds from 1.59 to 1.81 Å. `geometry_problems` finds such defects, `ideal_polyhedron` builds the
ions made of one centre and 4-6 terminal ligands (BF4-, ClO4-, PF6-, AsF6-, ...) directly.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from ase.data import covalent_radii
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, ChemicalForceFields

BOND_TOLERANCE_A = 0.1


@contextmanager
def quiet_rdkit():
    """RDKit's C++ warnings off (UFF's typer warns about every charged hypervalent atom, e.g. in PF6-)."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


@dataclass(frozen=True)
class GeometryProblem:
    """One defect: `kind` 'bond' (length far from `expected_A`), 'angle' (two ligands of one atom closer than the
    shorter of their bonds: an angle below 60 deg) or 'contact' (atoms 3+ bonds apart closer than `expected_A`, the
    sum of their covalent radii)."""

    kind: str
    atoms: tuple[int, ...]
    distance_A: float
    expected_A: float

    def describe(self, symbols: list[str]) -> str:
        names = "-".join(f"{symbols[i]}{i}" for i in self.atoms)
        what = {"bond": "bond", "angle": "ligands of one atom", "contact": "non-bonded contact"}[self.kind]
        relation = "expected" if self.kind == "bond" else "at least"
        return f"{what} {names} at {self.distance_A:.2f} Å ({relation} {self.expected_A:.2f} Å)"


def reference_bond_lengths_A(mol: Chem.Mol) -> dict[tuple[int, int], float]:
    """Equilibrium length (Å) of every bond (sorted atom pair): CL&P's where a shipped template matches the
    molecule, else MMFF94's where MMFF has all its parameters, else UFF's."""
    from ilflow.classical.forcefield import NoTemplateError, type_molecule

    pairs = [tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()]
    try:
        typed = type_molecule([a.GetAtomicNum() for a in mol.GetAtoms()], pairs)
        return {(i, j): r0 for i, j, r0, *_ in typed.bonds}
    except NoTemplateError:
        pass
    if AllChem.MMFFHasAllMoleculeParams(mol):
        props = AllChem.MMFFGetMoleculeProperties(mol)
        return {(i, j): float(props.GetMMFFBondStretchParams(mol, i, j)[2]) for i, j in pairs}
    out = {}
    for i, j in pairs:
        with quiet_rdkit():
            params = ChemicalForceFields.GetUFFBondStretchParams(mol, i, j)
        out[(i, j)] = float(params[1]) if params else float(
            covalent_radii[mol.GetAtomWithIdx(i).GetAtomicNum()] + covalent_radii[mol.GetAtomWithIdx(j).GetAtomicNum()])
    return out


def geometry_problems(mol: Chem.Mol, positions_A: np.ndarray, reference: dict | None = None,
                      bond_tolerance_A: float = BOND_TOLERANCE_A) -> list[GeometryProblem]:
    """Every defect of one geometry of `mol` (positions in Å, RDKit atom order)."""
    reference = reference_bond_lengths_A(mol) if reference is None else reference
    x = np.asarray(positions_A, dtype=float)
    distance = np.linalg.norm(x[:, None] - x[None], axis=-1)
    problems = [GeometryProblem("bond", (i, j), float(distance[i, j]), r0)
                for (i, j), r0 in reference.items() if abs(distance[i, j] - r0) > bond_tolerance_A]
    ring_info = mol.GetRingInfo()
    paths = Chem.GetDistanceMatrix(mol)
    z = [a.GetAtomicNum() for a in mol.GetAtoms()]
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            if paths[i, j] == 2:
                centre = next(a.GetIdx() for a in mol.GetAtomWithIdx(i).GetNeighbors() if paths[a.GetIdx(), j] == 1)
                in_3_ring = any(len(r) == 3 and {i, j, centre} <= set(r) for r in ring_info.AtomRings())
                shorter = min(distance[i, centre], distance[j, centre])
                if not in_3_ring and distance[i, j] < shorter:
                    problems.append(GeometryProblem("angle", (i, centre, j), float(distance[i, j]), float(shorter)))
            elif paths[i, j] >= 3:
                limit = float(covalent_radii[z[i]] + covalent_radii[z[j]])
                if distance[i, j] < limit:
                    problems.append(GeometryProblem("contact", (i, j), float(distance[i, j]), limit))
    return problems


def polyhedral_centre(mol: Chem.Mol) -> int | None:
    """The centre of an ion made of one atom and 4-6 terminal ligands (BF4-, PF6-, ...), else None."""
    if mol.GetNumAtoms() not in (5, 6, 7):
        return None
    degrees = [a.GetDegree() for a in mol.GetAtoms()]
    centre = int(np.argmax(degrees))
    if degrees[centre] == mol.GetNumAtoms() - 1 and sorted(degrees)[:-1] == [1] * (len(degrees) - 1):
        return centre
    return None


_DIRECTIONS = {
    4: np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0),  # tetrahedron
    5: np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]]),  # bipyramid
    6: np.vstack([np.eye(3), -np.eye(3)]),  # octahedron
}


def ideal_polyhedron(mol: Chem.Mol, centre: int, reference: dict[tuple[int, int], float]) -> np.ndarray:
    """Positions (Å) of a centre at the origin and its ligands on a tetrahedron, trigonal bipyramid or octahedron,
    each at its reference bond length."""
    ligands = [a.GetIdx() for a in mol.GetAtomWithIdx(centre).GetNeighbors()]
    x = np.zeros((mol.GetNumAtoms(), 3))
    for ligand, direction in zip(ligands, _DIRECTIONS[len(ligands)]):
        x[ligand] = direction * reference[tuple(sorted((centre, ligand)))]
    return x
