"""Boxes from SMILES: size, density, charge, intact molecules, clearances and determinism."""

import numpy as np
import pytest
from ase.io import read
from geometry import density_g_cm3, distance_bonds, min_intermolecular_mic, smiles_bonds, smiles_charge

from conftest import BF4, BMIM
from ilflow.config import Box, Species
from ilflow.system import build_box

AVOGADRO = 6.02214076e23


def _check_box(atoms, counts: dict[str, int], smiles: dict[str, str], density: float):
    names = atoms.arrays["species_name"]
    mol_ids = atoms.arrays["molecule_id"]
    # size and density computed here from masses and the cell, not from what ilflow reports
    from rdkit import Chem

    n_atoms = sum(n * Chem.AddHs(Chem.MolFromSmiles(smiles[s])).GetNumAtoms() for s, n in counts.items())
    assert len(atoms) == n_atoms
    assert density_g_cm3(atoms) == pytest.approx(density, rel=1e-9)
    assert np.allclose(atoms.cell.angles(), 90.0) and atoms.pbc.all()
    # charge: formal charges from RDKit per species times counts
    assert sum(n * smiles_charge(smiles[s]) for s, n in counts.items()) == 0
    assert atoms.get_initial_charges().sum() == pytest.approx(0.0)
    # every molecule intact: its distance bond graph equals the SMILES graph
    assert len(np.unique(mol_ids)) == sum(counts.values())
    for m in np.unique(mol_ids):
        idx = np.flatnonzero(mol_ids == m)
        species = names[idx[0]]
        assert (names[idx] == species).all()
        assert distance_bonds(atoms, idx) == smiles_bonds(smiles[species]), f"molecule {m} ({species}) broken"
    assert min_intermolecular_mic(atoms, mol_ids) >= 1.5


def test_ten_pairs_at_1210(box_10_pairs):
    atoms = read(box_10_pairs)
    assert len(atoms) == 300
    edge = (atoms.get_masses().sum() / AVOGADRO / 1.210 / 1e-24) ** (1 / 3)
    assert atoms.cell.lengths() == pytest.approx([edge] * 3, abs=1e-9)
    assert abs(atoms.cell.lengths()[0] - 14.58) <= 0.01
    _check_box(atoms, {"BMIM": 10, "BF4": 10}, {"BMIM": BMIM, "BF4": BF4}, 1.210)


def test_same_seed_same_file(box_10_pairs, cli, tmp_path):
    again = tmp_path / "again.extxyz"
    result = cli("build", "-s", f"BMIM:10:{BMIM}", "-s", f"BF4:10:{BF4}", "--density-g-cm3", "1.210", "-o", str(again))
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == box_10_pairs.read_bytes()


def test_other_seed_other_box(box_10_pairs, cli, tmp_path):
    other = tmp_path / "seed7.extxyz"
    result = cli("build", "-s", f"BMIM:10:{BMIM}", "-s", f"BF4:10:{BF4}", "--density-g-cm3", "1.210", "--seed", "7",
                 "-o", str(other))
    assert result.returncode == 0, result.stderr
    assert not np.allclose(read(other).positions, read(box_10_pairs).positions)


def test_32_pairs_at_0900(cli, tmp_path):
    out = tmp_path / "box32.extxyz"
    result = cli("build", "-s", f"BMIM:32:{BMIM}", "-s", f"BF4:32:{BF4}", "--density-g-cm3", "0.9", "-o", str(out))
    assert result.returncode == 0, result.stderr
    atoms = read(out)
    assert len(atoms) == 960
    _check_box(atoms, {"BMIM": 32, "BF4": 32}, {"BMIM": BMIM, "BF4": BF4}, 0.9)


def test_orthorhombic_box_with_conformers():
    species = [Species(name="BMIM", smiles=BMIM, count=4, conformers=3), Species(name="BF4", smiles=BF4, count=4)]
    atoms = build_box(species, Box(density_g_cm3=1.0, aspect_ratio=(1.0, 1.0, 2.0)))
    a, b, c = atoms.cell.lengths()
    assert a == pytest.approx(b) and c == pytest.approx(2 * a)
    _check_box(atoms, {"BMIM": 4, "BF4": 4}, {"BMIM": BMIM, "BF4": BF4}, 1.0)
    # copies are spread over distinct conformers: the butyl chains differ in shape
    mol_ids, names = atoms.arrays["molecule_id"], atoms.arrays["species_name"]
    cations = [np.flatnonzero(mol_ids == m) for m in np.unique(mol_ids) if names[mol_ids == m][0] == "BMIM"]
    spreads = {round(float(np.sort(atoms[idx].get_all_distances(mic=True).ravel())[-1]), 3) for idx in cations}
    assert len(spreads) > 1


def test_molecules_are_whole_with_centres_in_cell(box_10_pairs):
    atoms = read(box_10_pairs)
    mol_ids = atoms.arrays["molecule_id"]
    for m in np.unique(mol_ids):
        idx = mol_ids == m
        # whole: every SMILES bond is short in plain (not minimum-image) coordinates
        sub = atoms[idx]
        d = sub.get_all_distances(mic=False)
        smiles = BMIM if sub.arrays["species_name"][0] == "BMIM" else BF4
        assert all(d[i, j] < 1.8 for i, j in smiles_bonds(smiles))
        com = (sub.get_masses()[:, None] * sub.positions).sum(0) / sub.get_masses().sum()
        frac = np.linalg.solve(atoms.cell.array.T, com)
        assert ((frac >= 0) & (frac < 1)).all()


def test_small_box_never_lets_a_molecule_touch_its_own_image():
    """2 pairs at 1.235 g/cm3: an 8.47 Å box, shorter than a stretched BMIM+ (about 9 Å). PACKMOL itself does
    not keep a molecule away from its own images; the first packing with this seed did (two atoms of one
    BMIM+ 1.34 Å apart through the boundary) and must be rejected and redone."""
    species = [Species(name="BMIM", smiles=BMIM, count=2), Species(name="BF4", smiles=BF4, count=2)]
    atoms = build_box(species, Box(density_g_cm3=1.2351662675962565, seed=0))
    _check_box(atoms, {"BMIM": 2, "BF4": 2}, {"BMIM": BMIM, "BF4": BF4}, 1.2351662675962565)
    mol_ids = atoms.arrays["molecule_id"]
    d = atoms.get_all_distances(mic=True)
    for m in np.unique(mol_ids):  # own images: every MIC distance inside a molecule is its plain distance
        idx = np.flatnonzero(mol_ids == m)
        plain = atoms[idx].get_all_distances(mic=False)
        images = d[np.ix_(idx, idx)]
        assert np.all((np.abs(images - plain) < 1e-9) | (images >= 1.5))
    assert atoms.info["packmol_seed"] != 0
