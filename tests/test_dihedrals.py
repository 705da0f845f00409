"""Dihedrals: SMARTS on built boxes, exact angles (also across boundaries), distributions over time windows."""

import numpy as np
import pytest
from ase import Atoms
from rdkit import Chem

from conftest import BMIM, rattled
from ilflow.analysis import (
    BMIM_DIHEDRALS,
    dihedral_angles,
    distributions_over_windows,
    find_dihedrals,
    from_atoms,
    trajectory_dihedrals,
)

SKEWED = np.array([[10.0, 0.0, 0.0], [2.0, 9.0, 0.0], [-1.5, 1.0, 8.5]])


def test_aromatic_smarts_on_the_smiles_finds_one_butyl_chain():
    """The chemist's SMARTS with aromatic n, on the SMILES itself: one N-C-C-C and one C-C-C-C per cation,
    the groups that BMIM_DIHEDRALS must find on the bare bond graph."""
    mol = Chem.AddHs(Chem.MolFromSmiles(BMIM))
    assert len(mol.GetSubstructMatches(Chem.MolFromSmarts("[n+,n]-[CH2]-[CH2]-[CH2]"))) == 1
    assert len(mol.GetSubstructMatches(Chem.MolFromSmarts("[CH2]-[CH2]-[CH2]-[CH3]"))) == 1


@pytest.mark.parametrize("name", ["N-C-C-C", "C-C-C-C"])
def test_one_chain_dihedral_per_cation_in_a_built_box(box_2_pairs, name):
    atoms = box_2_pairs
    found = find_dihedrals(atoms, BMIM_DIHEDRALS[name])
    names, ids = atoms.arrays["species_name"], atoms.arrays["molecule_id"]
    assert len(found) == 2
    cations = sorted(np.unique(ids[names == "BMIM"]))
    assert sorted(ids[q[0]] for q in found) == cations  # one per cation
    expected = [7, 6, 6, 6] if name == "N-C-C-C" else [6, 6, 6, 6]
    for q in found:
        assert list(atoms.numbers[q]) == expected and len(set(ids[q])) == 1
        for i, j in zip(q[:-1], q[1:]):  # consecutive atoms bonded (minimum-image distance)
            assert atoms.get_distance(i, j, mic=True) < 1.7
        n_h = [sum(atoms.numbers[k] == 1 and atoms.get_distance(c, k, mic=True) < 1.25 for k in range(len(atoms)))
               for c in q]
        assert n_h == ([0, 2, 2, 2] if name == "N-C-C-C" else [2, 2, 2, 3])


def _quadruple(phi_deg: float) -> np.ndarray:
    """Four points with the dihedral phi (IUPAC sign: x4 rotated by +phi about b2 = x3 - x2 from cis)."""
    phi = np.radians(phi_deg)
    x2, x3 = np.array([0.0, 0.0, 0.0]), np.array([1.5, 0.0, 0.0])
    x1 = x2 + np.array([-0.5, 1.4, 0.0])
    x4 = x3 + np.array([0.5, 1.4 * np.cos(phi), 1.4 * np.sin(phi)])
    return np.array([x1, x2, x3, x4])


@pytest.mark.parametrize("phi", [180.0, 60.0, -60.0, 0.0, 120.0, -179.0, 95.5])
def test_angle_of_a_hand_built_quadruple(phi):
    x = _quadruple(phi)
    angle = dihedral_angles(x, np.eye(3) * 50.0, [[0, 1, 2, 3]])
    assert angle.shape == (1,)
    assert angle[0] == pytest.approx(phi, abs=1e-9)
    # the sign agrees with ASE's dihedral (degrees in [0, 360))
    assert angle[0] % 360.0 == pytest.approx(Atoms("C4", positions=x).get_dihedral(0, 1, 2, 3) % 360.0, abs=1e-9)


def test_trans_is_180_not_minus_180():
    assert dihedral_angles(_quadruple(180.0), np.eye(3) * 50.0, [[0, 1, 2, 3]])[0] == 180.0


def test_angles_across_a_periodic_boundary_in_a_skewed_cell():
    phis = np.array([[60.0, -60.0, 180.0], [150.0, -30.0, 10.0]])  # 2 frames, 3 quadruples
    positions = []
    for frame in phis:
        x = np.concatenate([_quadruple(p) + shift for p, shift in zip(frame, [[0, 0, 0], [9.5, 8.8, 8.3], [5, 5, 8]])])
        frac = x @ np.linalg.inv(SKEWED)
        positions.append((frac - np.floor(frac)) @ SKEWED)  # each atom wrapped: quadruples cut by the boundary
    positions = np.array(positions)
    quadruples = np.arange(12).reshape(3, 4)
    assert np.abs(positions[0, 5] - positions[0, 6]).max() > 3  # the second quadruple is split
    assert dihedral_angles(positions, SKEWED, quadruples) == pytest.approx(phis, abs=1e-9)
    cells = np.stack([SKEWED, SKEWED])
    assert dihedral_angles(positions, cells, quadruples) == pytest.approx(phis, abs=1e-9)


def test_trajectory_dihedrals_of_a_rattled_box(box_2_pairs):
    traj = from_atoms(rattled(box_2_pairs, 5, sigma_A=0.01))
    quadruples, angles = trajectory_dihedrals(traj, BMIM_DIHEDRALS["C-C-C-C"])
    assert quadruples.shape == (2, 4) and angles.shape == (5, 2)
    reference = [box_2_pairs.get_dihedral(*q, mic=True) for q in quadruples]
    assert np.abs((angles[0] - reference + 180.0) % 360.0 - 180.0).max() < 5.0


def test_window_distributions_integrate_to_one():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-180, 180, (200, 3))
    centres, densities = distributions_over_windows(angles, windows=[0.1, 0.25, 0.5, 1.0], bins=36)
    assert centres.shape == (36,) and densities.shape == (4, 36)
    assert np.sum(densities * 10.0, axis=1) == pytest.approx(np.ones(4))
    counts, _ = np.histogram(angles[:20].ravel(), bins=np.linspace(-180, 180, 37))  # first 10% of 200 frames
    assert densities[0] == pytest.approx(counts / counts.sum() / 10.0)
    assert centres[0] == pytest.approx(-175.0) and centres[-1] == pytest.approx(175.0)
