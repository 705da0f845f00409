"""GFN2-xTB labels: equal to a direct tblite calculation; stress equals the strain derivative of the energy."""

import numpy as np
import pytest
from tblite.ase import TBLite

from ilflow.reference import LabelFailure, make_labeler
from ilflow.config.reference import XtbReference


@pytest.fixture(scope="module")
def labelled(box_2_pairs):
    return make_labeler(XtbReference()).label([box_2_pairs])[0]


def test_labels_equal_direct_tblite(box_2_pairs, labelled):
    direct = box_2_pairs.copy()
    direct.calc = TBLite(method="GFN2-xTB", charge=0, multiplicity=1, accuracy=1.0, electronic_temperature=300.0,
                         verbosity=0)
    assert labelled.get_potential_energy() == pytest.approx(direct.get_potential_energy(), abs=1e-8)
    assert np.allclose(labelled.get_forces(), direct.get_forces(), atol=1e-8)
    assert np.allclose(labelled.get_stress(), direct.get_stress(), atol=1e-10)
    assert labelled.info["reference_method"] == "xtb:GFN2-xTB"
    assert len(labelled.info["reference_settings_hash"]) == 16


def test_stress_is_the_strain_derivative_of_the_energy(box_2_pairs, labelled):
    """sigma_ij = (1/V) dE/d(eps_ij) by central differences of energies under symmetric strains."""
    h = 1e-4
    volume = box_2_pairs.get_volume()
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    labeler = make_labeler(XtbReference())
    frames = []
    for i, j in voigt:
        for sign in (1, -1):
            eps = np.zeros((3, 3))  # symmetric strain with Voigt component k equal to sign * h
            eps[i, j] = eps[j, i] = sign * h if i == j else sign * h / 2
            strained = box_2_pairs.copy()
            strained.set_cell(box_2_pairs.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            frames.append(strained)
    energies = [f.get_potential_energy() for f in labeler.label(frames)]
    fd = np.array([(energies[2 * k] - energies[2 * k + 1]) / (2 * h) / volume for k in range(6)])
    stress = labelled.get_stress()
    relative_error = np.linalg.norm(stress - fd) / np.linalg.norm(fd)
    print(f"xTB stress vs strain finite difference: relative error {relative_error:.2e}")
    assert relative_error < 1e-3, (stress, fd)


def test_unphysical_frame_gets_a_failure_record_and_others_are_labelled(box_2_pairs):
    bad = box_2_pairs.copy()
    bad.positions[7] = bad.positions[2] + [0.1, 0.0, 0.0]
    results = make_labeler(XtbReference()).label([box_2_pairs, bad])
    assert not isinstance(results[0], LabelFailure) and np.isfinite(results[0].get_potential_energy())
    failure = results[1]
    assert isinstance(failure, LabelFailure) and failure.kind == "invalid_geometry"
    assert "atoms 2 (C) and 7" in failure.reason and "0.100 Å apart" in failure.reason


def test_scf_failure_is_a_record_not_an_exception(box_2_pairs):
    labeler = make_labeler(XtbReference(max_iterations=1))
    result = labeler.label([box_2_pairs])[0]
    assert isinstance(result, LabelFailure)
    assert result.kind == "scf_not_converged" and "SCF not converged" in result.reason
