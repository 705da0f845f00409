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


def test_gfn1_is_gfn1_without_dispersion_plus_ilflow_d3(box_2_pairs):
    """GFN1-xTB's dispersion is a separate, non-self-consistent D3(BJ): removing it through tblite's parameter
    set and adding ilflow's D3 with GFN1's parameters and cutoffs (50 bohr pairs, 25 bohr coordination numbers)
    gives back the full GFN1-xTB labels."""
    from ilflow.config.dispersion import GFN1_CN_CUTOFF_A, GFN1_CUTOFF_A
    from ilflow.potentials.d3_calculator import d3_results

    full_config = XtbReference(hamiltonian="GFN1-xTB")
    free_config = XtbReference(hamiltonian="GFN1-xTB", dispersion="remove")
    full_labeler, free_labeler = make_labeler(full_config), make_labeler(free_config)
    assert full_labeler.settings_id != free_labeler.settings_id  # the two kinds of labels are never mixed up
    (full,), (free,) = full_labeler.label([box_2_pairs]), free_labeler.label([box_2_pairs])
    assert free.info["reference_dispersion"] == "GFN1-xTB without its D3(BJ)"
    e, f, s = d3_results(box_2_pairs, functional="gfn1", cutoff_A=GFN1_CUTOFF_A, cn_cutoff_A=GFN1_CN_CUTOFF_A)
    energy_error = abs(free.get_potential_energy() + e - full.get_potential_energy())
    force_error = np.abs(free.get_forces() + f - full.get_forces()).max()
    stress_error = np.abs(free.get_stress() + s - full.get_stress()).max()
    print(f"GFN1 - (GFN1 without dispersion + D3(gfn1)): {energy_error * 1e3:.2e} meV, {force_error * 1e3:.2e} meV/Å, "
          f"{stress_error:.2e} eV/Å3; D3 itself {e:.3f} eV")
    assert abs(e) > 0.5  # the dispersion removed is not negligible (about -1 eV here)
    assert energy_error < 1e-4 and force_error < 1e-4 and stress_error < 1e-5


def test_gfn2_without_dispersion_differs_from_gfn2(box_2_pairs):
    (full,), (free,) = (make_labeler(XtbReference(dispersion=d)).label([box_2_pairs]) for d in ("include", "remove"))
    assert free.get_potential_energy() > full.get_potential_energy() + 0.5  # D4 binds by about 1 eV here
    assert free.info["reference_dispersion"] == "GFN2-xTB without its self-consistent D4"
