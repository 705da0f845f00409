"""Molecules recovered from bare frames: bond graph, unwrapping, centres of mass, rigid rescaling."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import read
from geometry import density_g_cm3, min_intermolecular_mic, smiles_bonds

from conftest import BF4, BMIM
from ilflow.system import (
    bond_graph,
    centers_of_mass,
    find_molecules,
    min_intermolecular_distance,
    rescale_to_density,
    scale_cell_rigid,
    unwrap_molecules,
)


def _bare(atoms: Atoms) -> Atoms:
    """The same frame with no ilflow metadata, atoms wrapped into the cell (molecules cut by boundaries)."""
    bare = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    bare.wrap()
    return bare


def _partition(ids: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(ids == m).tolist()) for m in np.unique(ids)}


@pytest.fixture(scope="module")
def box(box_10_pairs):
    return read(box_10_pairs)


def test_molecules_from_bond_graph_of_a_bare_shuffled_frame(box):
    rng = np.random.default_rng(0)
    order = rng.permutation(len(box))
    bare = _bare(box)[order]
    found = find_molecules(bare)
    expected = box.arrays["molecule_id"][order]
    assert _partition(found) == _partition(expected)
    assert found[0] == 0 and set(found) == set(range(20))


def test_bond_graph_equals_smiles_graph(box):
    bonds = bond_graph(_bare(box))
    mol_ids, names = box.arrays["molecule_id"], box.arrays["species_name"]
    for m in np.unique(mol_ids):
        idx = np.flatnonzero(mol_ids == m)
        local = {(a - idx[0], b - idx[0]) for a, b in bonds if a in idx}
        assert local == smiles_bonds(BMIM if names[idx[0]] == "BMIM" else BF4)


def test_unwrap_restores_intramolecular_geometry(box):
    bare = _bare(box)
    unwrapped = unwrap_molecules(bare)
    mol_ids = box.arrays["molecule_id"]
    cut = 0
    for m in np.unique(mol_ids):
        idx = mol_ids == m
        reference = box.positions[idx]  # built whole
        got = unwrapped[idx]
        cut += not np.allclose(bare.positions[idx] - bare.positions[idx][0], reference - reference[0])
        # same molecule up to a lattice translation
        shift = got[0] - reference[0]
        assert np.allclose(got - shift, reference, atol=1e-8)
        frac = np.linalg.solve(box.cell.array.T, shift)
        assert np.allclose(frac, np.round(frac), atol=1e-8)
    assert cut > 0, "the test needs molecules cut by the boundary"


def test_centres_of_mass_match_mass_weighted_mean(box):
    com = centers_of_mass(_bare(box))
    mol_ids = box.arrays["molecule_id"]
    masses = box.get_masses()
    for m in np.unique(mol_ids):
        idx = mol_ids == m
        expected = (masses[idx, None] * box.positions[idx]).sum(0) / masses[idx].sum()
        diff = np.linalg.solve(box.cell.array.T, com[m] - expected)
        assert np.allclose(diff, np.round(diff), atol=1e-8)  # equal modulo lattice vectors


def test_rescale_to_density_keeps_molecules_rigid(box):
    for target in (0.9, 1.5):
        scaled = rescale_to_density(_bare(box), target)
        assert density_g_cm3(scaled) == pytest.approx(target, rel=1e-12)
        mol_ids = box.arrays["molecule_id"]
        before, after = unwrap_molecules(box), unwrap_molecules(scaled)
        for m in np.unique(mol_ids):
            idx = mol_ids == m
            assert np.allclose(after[idx] - after[idx].mean(0), before[idx] - before[idx].mean(0), atol=1e-8)
        # centres of mass keep their fractional coordinates (modulo 1)
        f0 = np.linalg.solve(box.cell.array.T, centers_of_mass(box).T).T
        f1 = np.linalg.solve(scaled.cell.array.T, centers_of_mass(scaled).T).T
        d = f1 - f0
        assert np.allclose(d, np.round(d), atol=1e-8)


def test_rigid_scaling_in_a_triclinic_cell(box):
    cell = box.cell.array.copy()
    cell[1, 0] = 3.0
    cell[2, :2] = (-2.0, 1.5)
    skewed = scale_cell_rigid(box, cell)  # molecules rigid, centres at the same fractional coordinates
    assert np.allclose(skewed.cell.array, cell)
    assert skewed.get_volume() == pytest.approx(box.get_volume())
    bare = _bare(skewed)
    bare.wrap()
    assert _partition(find_molecules(bare)) == _partition(box.arrays["molecule_id"])
    mol_ids = box.arrays["molecule_id"]
    assert min_intermolecular_distance(bare, mol_ids) == pytest.approx(min_intermolecular_mic(bare, mol_ids))


def test_min_intermolecular_distance_sees_periodic_images():
    # two H2 molecules: one across the x boundary from the other, 1.6 Å apart through the boundary
    atoms = Atoms("H4", positions=[[0.2, 5, 5], [0.2, 5.74, 5], [8.6, 5, 5], [8.6, 5.74, 5]], cell=[10, 10, 10], pbc=True)
    assert min_intermolecular_distance(atoms) == pytest.approx(1.6)
    atoms.pbc = False
    assert min_intermolecular_distance(atoms) == pytest.approx(4.0)  # nothing within the default 4 Å cutoff
