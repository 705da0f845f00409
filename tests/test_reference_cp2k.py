"""CP2K labels: the paper preset's input, and real CP2K on a tiny system checked by finite differences."""

import shutil

import numpy as np
import pytest
from ase import Atoms

from ilflow.config.reference import Cp2kReference
from ilflow.reference import LabelFailure, make_labeler
from ilflow.reference.cp2k_input import apply_overrides, cp2k_input, render

CP2K = shutil.which("cp2k.psmp")
needs_cp2k = pytest.mark.skipif(CP2K is None, reason="cp2k.psmp not installed (Debian: apt-get install cp2k; .ci/run does it)")


def _hf() -> Atoms:
    return Atoms("HF", positions=[[0.1, 0.2, 0.3], [1.03, 0.25, 0.3]], cell=[4.0, 4.2, 4.4], pbc=True)


def test_paper_preset_contains_every_listed_setting(box_2_pairs):
    text = cp2k_input(Cp2kReference(method="cp2k"), box_2_pairs, charge=0, multiplicity=1, restart_file=None)
    lines = [line.strip() for line in text.splitlines()]
    expected = [
        "METHOD QUICKSTEP", "STRESS_TENSOR ANALYTICAL", "RUN_TYPE ENERGY_FORCE",
        "BASIS_SET_FILE_NAME GTH_BASIS_SETS", "POTENTIAL_FILE_NAME GTH_POTENTIALS",
        "CUTOFF 800.0", "REL_CUTOFF 60.0", "NGRIDS 5",
        "EPS_SCF 1e-06", "MAX_SCF 100", "MINIMIZER DIIS", "PRECONDITIONER FULL_SINGLE_INVERSE", "&OUTER_SCF",
        "&BECKE97", "PARAMETRIZATION B97-3C", "SCALE_X 1.0",
        "POTENTIAL_TYPE PAIR_POTENTIAL", "TYPE DFTD3(BJ)", "PARAMETER_FILE_NAME dftd3.dat",
        "REFERENCE_FUNCTIONAL B97-3c", "R_CUTOFF 7.93766", "CALCULATE_C9_TERM T", "SHORT_RANGE_CORRECTION T",
        "CHARGE 0", "MULTIPLICITY 1", "PERIODIC XYZ",
    ]
    for setting in expected:
        assert setting in lines, setting
    for element, q in {"H": 1, "B": 3, "C": 4, "N": 5, "F": 7}.items():
        kind = text.index(f"&KIND {element}\n")
        block = text[kind:text.index("&END KIND", kind)]
        assert f"BASIS_SET TZVP-GTH-q{q}" in block and f"POTENTIAL GTH-PBE-q{q}" in block
    # OUTER_SCF carries its own MAX_SCF 100 and EPS_SCF 1e-6
    outer = text[text.index("&OUTER_SCF"):text.index("&END OUTER_SCF")]
    assert "MAX_SCF 100" in outer and "EPS_SCF 1e-06" in outer
    coord = [ln for ln in text[text.index("&COORD"):text.index("&END COORD")].splitlines()[1:] if ln.strip()]
    assert [line.split()[0] for line in coord] == box_2_pairs.get_chemical_symbols()


def test_dispersion_free_variant_and_overrides(box_2_pairs):
    text = cp2k_input(Cp2kReference(method="cp2k", dispersion="none", overrides={"FORCE_EVAL/DFT/SCF/MAX_SCF": 50}),
                      box_2_pairs, 0, 1, restart_file="ilflow-RESTART.wfn")
    assert "VDW_POTENTIAL" not in text and "DFTD3" not in text
    assert "MAX_SCF 50" in text and "SCF_GUESS RESTART" in text and "WFN_RESTART_FILE_NAME ilflow-RESTART.wfn" in text
    removed = apply_overrides({"A": {"B": 1, "C": {"D": 2}}}, {"A/C": None, "a/b": 3})
    assert render(removed) == "&A\n  B 3\n&END A\n"


@needs_cp2k
def test_real_cp2k_energy_forces_and_stress(tmp_path):
    """HF in a 4 Å box at 300 Ry: forces and stress against central differences of CP2K energies."""
    config = Cp2kReference(method="cp2k", cutoff_Ry=300, rel_cutoff_Ry=40, keep_workdirs=True,
                           command="mpirun --allow-run-as-root --oversubscribe -np 2 cp2k.psmp")
    labeler = make_labeler(config)
    labeler.work_root = tmp_path
    base = _hf()
    h, eps = 0.005, 0.003
    frames = [base]
    for sign in (1, -1):
        moved = base.copy()
        moved.positions[1, 0] += sign * h
        frames.append(moved)
    for sign in (1, -1):
        strained = base.copy()
        strained.set_cell(base.cell.array * (1 + sign * eps), scale_atoms=True)
        frames.append(strained)
    results = labeler.label(frames)
    assert not any(isinstance(r, LabelFailure) for r in results), results
    energies = [r.get_potential_energy() for r in results]
    assert -700 < energies[0] < -650  # about -24.9 Hartree
    fd_force = -(energies[1] - energies[2]) / (2 * h)
    # GPW at 300 Ry has an egg-box error of ~1% (0.3% at 600 Ry, measured)
    assert results[0].get_forces()[1, 0] == pytest.approx(fd_force, rel=2e-2)
    fd_isotropic = (energies[3] - energies[4]) / (2 * eps)  # dE/d(isotropic strain) = V * trace(stress)
    stress = results[0].get_stress()
    assert np.sign(stress[:3].sum()) == np.sign(fd_isotropic)
    assert stress[:3].sum() * base.get_volume() == pytest.approx(fd_isotropic, rel=1e-2)
    # one work directory; every frame after the first restarts from the previous wavefunction
    (workdir,) = list(tmp_path.iterdir())
    inputs = sorted(workdir.glob("frame-*.inp"))
    assert len(inputs) == 5 and "SCF_GUESS ATOMIC" in inputs[0].read_text()
    assert all("SCF_GUESS RESTART" in p.read_text() for p in inputs[1:])


@needs_cp2k
def test_cp2k_crash_is_a_failure_record_with_its_output(tmp_path):
    config = Cp2kReference(method="cp2k", cutoff_Ry=100, command="cp2k.psmp",
                           overrides={"FORCE_EVAL/DFT/XC/XC_FUNCTIONAL/BECKE97/SCALE_X": None})
    labeler = make_labeler(config)
    labeler.work_root = tmp_path
    (result,) = labeler.label([_hf()])
    assert isinstance(result, LabelFailure) and result.kind == "crashed"
    assert "exited with status" in result.reason and result.output_tail
