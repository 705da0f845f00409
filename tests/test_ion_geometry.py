"""Built ion geometries of the common ionic-liquid families against force-field bond lengths; PF6- octahedral;
defects of RDKit's own PF6- embedding found."""

import itertools

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from ilflow.classical.forcefield import NoTemplateError, type_molecule
from ilflow.system.geometry import geometry_problems, reference_bond_lengths_A
from ilflow.system.species import molecule_from_smiles

IONS = {
    "EMIM": "CCn1cc[n+](C)c1", "BMIM": "CCCCn1cc[n+](C)c1", "C2OHMIM": "OCCn1cc[n+](C)c1",
    "BMPyrr": "CCCC[N+]1(C)CCCC1", "N1114": "CCCC[N+](C)(C)C", "P66614": "CCCCCC[P+](CCCCCC)(CCCCCC)CCCCCCCCCCCCCC",
    "BPy": "CCCC[n+]1ccccc1", "BF4": "F[B-](F)(F)F", "PF6": "F[P-](F)(F)(F)(F)F",
    "NTf2": "FC(F)(F)S(=O)(=O)[N-]S(=O)(=O)C(F)(F)F", "FSI": "FS(=O)(=O)[N-]S(=O)(=O)F",
    "OTf": "[O-]S(=O)(=O)C(F)(F)F", "DCA": "N#C[N-]C#N", "OAc": "CC(=O)[O-]", "Cl": "[Cl-]", "Br": "[Br-]",
    "water": "O", "acetonitrile": "CC#N",
}


def _force_field_bond_lengths(mol):
    """CL&P r0 where a shipped template matches, else MMFF94's (computed here, not by the code under test)."""
    pairs = [tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()]
    try:
        typed = type_molecule([a.GetAtomicNum() for a in mol.GetAtoms()], pairs)
        return "CL&P", {(i, j): r0 for i, j, r0, *_ in typed.bonds}
    except NoTemplateError:
        props = AllChem.MMFFGetMoleculeProperties(mol)
        return "MMFF", {(i, j): props.GetMMFFBondStretchParams(mol, i, j)[2] for i, j in pairs}


@pytest.mark.parametrize("name", list(IONS))
def test_built_bonds_are_the_force_fields(name):
    molecule = molecule_from_smiles(name, IONS[name])
    x = molecule.conformers[0]
    if not molecule.bonds:
        return  # a single atom
    source, r0 = _force_field_bond_lengths(molecule.mol)
    for (i, j), length in r0.items():
        assert abs(np.linalg.norm(x[i] - x[j]) - length) < 0.1, (name, source, i, j)
    assert not geometry_problems(molecule.mol, x)


def test_pf6_is_octahedral():
    molecule = molecule_from_smiles("PF6", IONS["PF6"])
    x = molecule.conformers[0]
    centre = molecule.symbols.index("P")
    ligands = [k for k in range(7) if k != centre]
    angles = []
    for a, b in itertools.combinations(ligands, 2):
        u, v = x[a] - x[centre], x[b] - x[centre]
        angles.append(np.degrees(np.arccos(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))))
    angles = np.sort(angles)
    assert np.allclose(angles[:12], 90.0, atol=5.0) and np.allclose(angles[12:], 180.0, atol=5.0)


def test_rdkits_own_pf6_embedding_is_found_broken():
    mol = Chem.AddHs(Chem.MolFromSmiles(IONS["PF6"]))
    params = AllChem.ETKDGv3()
    params.randomSeed = 42
    AllChem.EmbedMolecule(mol, params)
    AllChem.UFFGetMoleculeForceField(mol).Minimize(maxIts=2000)
    problems = geometry_problems(mol, mol.GetConformer().GetPositions())
    kinds = {p.kind for p in problems}
    assert "angle" in kinds and "bond" in kinds  # two fluorines 0.92 Å apart; P-F far from CL&P's 1.606 Å
    assert all(p.expected_A == pytest.approx(1.606, abs=1e-3) for p in problems if p.kind == "bond")


def test_a_contact_between_distant_atoms_is_a_problem():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCC"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    x = mol.GetConformer().GetPositions()
    assert not geometry_problems(mol, x, reference_bond_lengths_A(mol), bond_tolerance_A=0.2)
    h_first = next(a.GetIdx() for a in mol.GetAtomWithIdx(0).GetNeighbors() if a.GetAtomicNum() == 1)
    h_last = next(a.GetIdx() for a in mol.GetAtomWithIdx(3).GetNeighbors() if a.GetAtomicNum() == 1)
    x[h_last] = x[h_first] + [0.3, 0.0, 0.0]  # two hydrogens five bonds apart, 0.3 Å from each other
    contacts = [p for p in geometry_problems(mol, x, bond_tolerance_A=10.0) if p.kind == "contact"]
    assert any(set(p.atoms) == {h_first, h_last} for p in contacts)


def test_a_broken_organic_embedding_is_embedded_again_or_named(monkeypatch):
    """Butane's first embedding declared broken: a new random-coordinate embedding replaces it; if every embedding
    stays broken, the error names the species and the defect."""
    from ilflow.errors import SpeciesError
    from ilflow.system import species
    from ilflow.system.geometry import GeometryProblem

    defect = GeometryProblem("contact", (0, 3), 0.5, 1.52)
    first = {"seen": False}

    def broken_once(mol, x, reference=None):
        if first["seen"]:
            return []
        first["seen"] = True
        return [defect]

    plain = species.molecule_from_smiles("butane", "CCCC", seed=3)
    monkeypatch.setattr(species, "geometry_problems", broken_once)
    molecule = species.molecule_from_smiles("butane", "CCCC", seed=3)
    assert first["seen"] and not geometry_problems(molecule.mol, molecule.conformers[0])
    assert not np.allclose(plain.conformers[0], molecule.conformers[0])  # the new embedding, not the first
    monkeypatch.setattr(species, "geometry_problems", lambda mol, x, reference=None: [defect])
    with pytest.raises(SpeciesError, match=r"species 'butane'.*non-bonded contact C0-C3 at 0.50 Å"):
        species.molecule_from_smiles("butane", "CCCC", seed=3)
