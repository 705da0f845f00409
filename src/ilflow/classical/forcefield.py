"""The CL&P force field (Canongia Lopes & Pádua; MIT licence; data/clandp.json) and atom typing by graph matching.

A molecule (elements + bonds, any atom order) is matched to a shipped template by graph isomorphism (RDKit
substructure match of two equal-size graphs), which gives every atom its CL&P type. Angles and dihedrals
follow from the bond graph; impropers come from the template. Conventions (clandp.json "units"):
bonds and angles E = k/2 (x - x0)^2; dihedrals and impropers the OPLS series
E = v1/2 (1 + cos phi) + v2/2 (1 - cos 2 phi) + v3/2 (1 + cos 3 phi) + v4/2 (1 - cos 4 phi);
Lennard-Jones with geometric mixing of sigma and epsilon; 1-2 and 1-3 pairs excluded, 1-4 pairs scaled by 0.5.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
from rdkit import Chem

from ilflow.errors import IlflowError

SCALE_14 = 0.5  # both Lennard-Jones and Coulomb (OPLS convention used by CL&P)
ANGLE_TOLERANCE_DEG = 60.0  # angles this far from theta0 in the template geometry carry no term (PF6 trans F-P-F)


class NoTemplateError(IlflowError):
    """A molecule that no shipped force-field template matches."""


@dataclass(frozen=True)
class TypedMolecule:
    """One molecule with CL&P parameters; indices are the molecule's own atom order."""

    template: str
    types: tuple[str, ...]
    charges_e: np.ndarray
    sigma_A: np.ndarray
    epsilon_kJ_mol: np.ndarray
    bonds: list = field(default_factory=list)  # (i, j, r0_A, k_kJ_mol_A2, constrained)
    angles: list = field(default_factory=list)  # (i, j, k, theta0_rad, k_kJ_mol_rad2)
    torsions: list = field(default_factory=list)  # (i, j, k, l, (v1, v2, v3, v4)) proper and improper, kJ/mol
    pairs_14: list = field(default_factory=list)  # (i, j): scaled by SCALE_14
    excluded: list = field(default_factory=list)  # (i, j): 1-2 and 1-3 pairs, no non-bonded interaction

    @property
    def charge_e(self) -> float:
        return float(self.charges_e.sum())


@cache
def clandp() -> dict:
    """The shipped CL&P data (see its "source" for files, versions, licence and citations)."""
    return json.loads((resources.files("ilflow.classical") / "data" / "clandp.json").read_text())


def graph_mol(numbers, bonds) -> Chem.Mol:
    mol = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    for i, j in bonds:
        mol.AddBond(int(i), int(j), Chem.BondType.SINGLE)
    return mol.GetMol()


@cache
def _template_graphs() -> dict[str, tuple[Chem.Mol, int]]:
    from ase.data import atomic_numbers

    data = clandp()
    out = {}
    for name, molecule in data["molecules"].items():
        numbers = [atomic_numbers[data["atom_types"][a["type"]]["element"]] for a in molecule["atoms"]]
        out[name] = (graph_mol(numbers, molecule["bonds"]), len(molecule["bonds"]))
    return out


def match_template(numbers, bonds) -> tuple[str, np.ndarray]:
    """(template name, order) with molecule atom i = template atom order[i]; NoTemplateError if none matches."""
    numbers = [int(z) for z in numbers]
    bonds = sorted({tuple(sorted((int(i), int(j)))) for i, j in bonds})
    mol = graph_mol(numbers, bonds)
    for name, (template, n_bonds) in _template_graphs().items():
        if template.GetNumAtoms() != len(numbers) or n_bonds != len(bonds):
            continue
        match = mol.GetSubstructMatch(template)  # match[t] = molecule atom of template atom t
        if match:
            order = np.empty(len(numbers), dtype=int)
            order[list(match)] = np.arange(len(numbers))
            return name, order
    from ase.formula import Formula

    formula = Formula.from_list([Chem.GetPeriodicTable().GetElementSymbol(z) for z in numbers]).format("hill")
    raise NoTemplateError(
        f"no shipped CL&P template matches the molecule {formula} ({len(numbers)} atoms, {len(bonds)} bonds); "
        f"templates: {', '.join(clandp()['molecules'])}. Use the bootstrap sampler instead "
        "(learning.initial.source: bootstrap) or start from a labelled file (source: file)")


def _lookup(table: list[dict], types: tuple[str, ...], what: str) -> dict:
    for entry in table:
        if tuple(entry["types"]) in (types, types[::-1]):
            return entry
    raise NoTemplateError(f"CL&P has no {what} parameters for bonded types {'-'.join(types)}")


def _angles(neighbours: list[set[int]]) -> list[tuple[int, int, int]]:
    return [(i, j, k) for j, around in enumerate(neighbours) for i in sorted(around) for k in sorted(around) if i < k]


def _dihedrals(bonds, neighbours) -> list[tuple[int, int, int, int]]:
    out = []
    for j, k in bonds:
        for i in sorted(neighbours[j] - {k}):
            for m in sorted(neighbours[k] - {j}):
                if i != m:
                    out.append((i, j, k, m))
    return out


def type_molecule(numbers, bonds, positions_A=None) -> TypedMolecule:
    """CL&P types and every bonded and non-bonded term of one molecule (elements, bonds in its own atom order).

    `positions_A` (optional): a geometry of the molecule; angles more than ANGLE_TOLERANCE_DEG from their
    theta0 there carry no term (il.ff lists one F-P-F angle at 90 degrees, and the trans pairs of PF6 are at 180).
    Without positions the template's own excluded angles are used."""
    name, order = match_template(numbers, bonds)
    data = clandp()
    template = data["molecules"][name]
    kinds = [template["atoms"][t]["type"] for t in order]
    atom_types = [data["atom_types"][k] for k in kinds]
    bonded = [a.get("bonded_type", k) for a, k in zip(atom_types, kinds)]
    n = len(kinds)
    bonds = sorted({tuple(sorted((int(i), int(j)))) for i, j in bonds})
    neighbours = [set() for _ in range(n)]
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)

    typed_bonds = []
    for i, j in bonds:
        p = _lookup(data["bonds"], (bonded[i], bonded[j]), "bond")
        typed_bonds.append((i, j, p["r0_A"], p["k_kJ_mol_A2"], bool(p.get("constrained", False))))

    to_molecule = {t: i for i, t in enumerate(order)}
    skip = {tuple(to_molecule[t] for t in a) for a in template.get("excluded_angles", [])}
    typed_angles = []
    for i, j, k in _angles(neighbours):
        p = _lookup(data["angles"], (bonded[i], bonded[j], bonded[k]), "angle")
        theta0 = np.radians(p["theta0_deg"])
        if positions_A is not None:
            a, b = positions_A[i] - positions_A[j], positions_A[k] - positions_A[j]
            actual = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
            if abs(np.degrees(actual - theta0)) > ANGLE_TOLERANCE_DEG:
                continue
        elif (i, j, k) in skip or (k, j, i) in skip:
            continue
        typed_angles.append((i, j, k, theta0, p["k_kJ_mol_rad2"]))

    torsions = []
    for quad in _dihedrals(bonds, neighbours):
        p = _lookup(data["dihedrals"], tuple(bonded[a] for a in quad), "dihedral")
        torsions.append((*quad, (p["v1"], p["v2"], p["v3"], p["v4"])))
    for quad in template.get("impropers", []):
        atoms = tuple(to_molecule[t] for t in quad)
        types = tuple(bonded[a] for a in atoms)
        p = next((e for e in data["impropers"] if tuple(e["types"]) == types), None)
        if p is None:
            raise NoTemplateError(f"CL&P has no improper parameters for {'-'.join(types)} ({name})")
        torsions.append((*atoms, (p["v1"], p["v2"], p["v3"], p["v4"])))

    excluded = {tuple(sorted((i, j))) for i, j in bonds} | {tuple(sorted((i, k))) for i, _, k in _angles(neighbours)}
    pairs_14 = sorted({tuple(sorted((i, m))) for i, _, _, m in _dihedrals(bonds, neighbours)} - excluded)
    return TypedMolecule(
        template=name, types=tuple(kinds),
        charges_e=np.array([a["charge"] for a in atom_types]),
        sigma_A=np.array([a["sigma_A"] for a in atom_types]),
        epsilon_kJ_mol=np.array([a["epsilon_kJ_mol"] for a in atom_types]),
        bonds=typed_bonds, angles=typed_angles, torsions=torsions, pairs_14=pairs_14, excluded=sorted(excluded))
