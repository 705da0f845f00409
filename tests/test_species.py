"""SMILES -> molecules: masses, formulas, charges, conformers and relaxation."""

import numpy as np
import pytest

from conftest import BF4, BMIM
from ilflow.system import molecule_from_smiles


def test_bmim_and_bf4_facts():
    bmim, bf4 = molecule_from_smiles("BMIM", BMIM), molecule_from_smiles("BF4", BF4)
    # the study's numbers: 25 and 5 atoms, 139.22 and 86.80 g/mol
    assert len(bmim) == 25 and len(bf4) == 5
    assert bmim.mass_amu == pytest.approx(139.22, abs=0.01)
    assert bf4.mass_amu == pytest.approx(86.80, abs=0.01)
    assert bmim.formula == "C8H15N2+" and bf4.formula == "BF4-"
    assert bmim.charge == 1 and bf4.charge == -1
    assert bmim.symbols.count("H") == 15


def test_bf4_relaxed_with_uff_is_tetrahedral():
    bf4 = molecule_from_smiles("BF4", BF4, relax="mmff")  # MMFF has no boron: falls back to UFF
    pos = bf4.conformers[0]
    b = bf4.symbols.index("B")
    bonds = np.linalg.norm(np.delete(pos, b, 0) - pos[b], axis=1)
    assert np.ptp(bonds) < 0.01 and 1.3 < bonds.mean() < 1.5
    v = np.delete(pos, b, 0) - pos[b]
    cos = (v @ v.T)[np.triu_indices(4, 1)] / bonds.mean() ** 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx(np.full(6, 109.47), abs=1.0)


def test_conformer_ensemble_is_seeded_and_distinct():
    a = molecule_from_smiles("BMIM", BMIM, n_conformers=10, seed=42, relax="none")
    b = molecule_from_smiles("BMIM", BMIM, n_conformers=10, seed=42, relax="none")
    assert len(a.conformers) > 1
    assert all(np.array_equal(x, y) for x, y in zip(a.conformers, b.conformers))
    assert not np.allclose(a.conformers[0], a.conformers[1])


def test_relaxation_changes_geometry():
    raw = molecule_from_smiles("BMIM", BMIM, relax="none").conformers[0]
    relaxed = molecule_from_smiles("BMIM", BMIM, relax="mmff").conformers[0]
    assert not np.allclose(raw, relaxed)
