"""Trajectories as arrays: unwrapping across triclinic and fluctuating cells, molecular centres, readers."""

import numpy as np
import pytest
from ase import Atoms

from ilflow.analysis import (
    AnalysisError,
    Trajectory,
    from_atoms,
    molecule_centres,
    molecule_formulas,
    read_h5md,
    unwrap,
)

SKEWED = np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [-2.0, 1.5, 8.0]])


def _wrap(x: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Positions moved into the cell parallelepiped, written out by hand (fractional coordinates mod 1)."""
    frac = np.einsum("...i,...ij->...j", x, np.linalg.inv(cells))
    return np.einsum("...i,...ij->...j", frac - np.floor(frac), cells)


def test_steady_motion_across_a_skewed_cell_unwraps_to_a_straight_line():
    t = np.arange(300)[:, None, None]
    start = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    velocity = np.array([[0.9, -0.4, 0.7], [-0.3, 1.1, 0.2]])  # Å per frame, many cell crossings
    true = start + t * velocity
    wrapped = _wrap(true, SKEWED)
    assert np.abs(np.diff(wrapped, axis=0)).max() > 5  # the wrapped path jumps
    assert unwrap(wrapped, SKEWED) == pytest.approx(true, abs=1e-9)
    assert unwrap(wrapped, np.broadcast_to(SKEWED, (300, 3, 3))) == pytest.approx(true, abs=1e-9)


def test_unwrapping_with_a_fluctuating_cell_keeps_the_straight_line():
    """NPT: each frame wrapped into its own cell; the unwrapped path is the true one, not rescaled."""
    n = 200
    scale = 1.0 + 0.03 * np.sin(np.arange(n) / 7.0)
    cells = scale[:, None, None] * SKEWED
    true = np.array([1.0, 1.0, 1.0]) + np.arange(n)[:, None] * np.array([0.8, 0.5, -0.6])
    wrapped = _wrap(true[:, None, :], cells[:, None])
    assert unwrap(wrapped, cells)[:, 0] == pytest.approx(true, abs=1e-9)


def test_centre_of_a_molecule_split_by_the_boundary_is_its_true_centre():
    # a bent triatomic (O, H, H) sticking out of a skewed cell; the first atom (O) lies inside
    true = np.array([[0.3, 0.4, 0.5], [-0.5, 0.9, 0.4], [0.6, -0.4, -0.3]])
    masses = np.array([16.0, 1.0, 1.0])
    expected = (masses[:, None] * true).sum(axis=0) / masses.sum()
    other = np.array([[5.0, 5.0, 4.0]])
    positions = _wrap(np.concatenate([true, other]), SKEWED)
    assert np.linalg.norm(positions[1] - true[1]) > 5 and np.linalg.norm(positions[2] - true[2]) > 5  # split
    traj = Trajectory(positions[None], SKEWED, [0.0], [8, 1, 1, 11], np.append(masses, 23.0), [0, 0, 0, 1])
    centres, mol_masses = molecule_centres(traj)
    assert centres.shape == (1, 2, 3)
    assert centres[0, 0] == pytest.approx(expected, abs=1e-12)
    assert centres[0, 1] == pytest.approx(positions[3], abs=1e-12)
    assert mol_masses == pytest.approx([18.0, 23.0])
    assert molecule_formulas(traj) == ["H2O", "Na"]


def test_molecules_are_found_from_bonds_when_ids_are_missing(box_2_pairs):
    traj = from_atoms([box_2_pairs])
    bare = Trajectory(traj.positions, traj.cells, traj.time_ps, traj.numbers, traj.masses, None)
    assert sorted(molecule_formulas(bare)) == ["BF4", "BF4", "C8H15N2", "C8H15N2"]
    assert molecule_centres(bare)[0] == pytest.approx(molecule_centres(traj)[0], abs=1e-9)


def test_from_atoms_and_shapes(box_2_pairs):
    frames = [box_2_pairs.copy() for _ in range(3)]
    traj = from_atoms(frames, time_ps=[0.0, 0.5, 1.0])
    assert traj.positions.shape == (3, len(box_2_pairs), 3) and traj.cells.shape == (3, 3, 3)
    assert (traj.molecule_id == box_2_pairs.arrays["molecule_id"]).all()
    assert traj.masses == pytest.approx(box_2_pairs.get_masses())
    assert traj.frames(slice(1, None)).time_ps == pytest.approx([0.5, 1.0])
    with pytest.raises(AnalysisError, match="time_ps"):
        Trajectory(traj.positions, traj.cells, [0.0], traj.numbers, traj.masses)


@pytest.mark.filterwarnings("ignore:there is no reference attributes")
def test_h5md_written_by_our_md_reads_back_in_ps_with_template_molecules(tmp_path, box_2_pairs):
    from ilflow.md.h5md import OBSERVABLE_UNITS, H5MDWriter

    atoms = box_2_pairs
    rng = np.random.default_rng(0)
    positions = atoms.positions + rng.normal(0, 0.1, (4, len(atoms), 3))
    cells = atoms.cell.array * np.array([1.0, 1.01, 1.02, 1.03])[:, None, None]
    writer = H5MDWriter(tmp_path / "trajectory.h5md", atoms.numbers, atoms.get_masses())
    frames = {"step": np.arange(4) * 10, "time_fs": np.arange(4) * 10 * 0.5, "cell": cells, "positions": positions}
    frames.update({k: np.zeros(4) for k in OBSERVABLE_UNITS})
    writer.append(frames)
    writer.close()
    traj = read_h5md(tmp_path / "trajectory.h5md", template=atoms)
    assert traj.positions == pytest.approx(positions) and traj.cells == pytest.approx(cells)
    assert traj.time_ps == pytest.approx([0.0, 0.005, 0.010, 0.015])
    assert (traj.numbers == atoms.numbers).all() and (traj.molecule_id == atoms.arrays["molecule_id"]).all()
    assert read_h5md(tmp_path / "trajectory.h5md").molecule_id is None
    assert read_h5md(tmp_path / "trajectory.h5md", frames=slice(1, None, 2)).time_ps == pytest.approx([0.005, 0.015])
    # an independent reader sees the same frames and times
    mda = pytest.importorskip("MDAnalysis")
    universe = mda.Universe(str(tmp_path / "trajectory.h5md"))
    for k, ts in enumerate(universe.trajectory):
        assert ts.positions == pytest.approx(positions[k], abs=1e-4)
        assert ts.time == pytest.approx(traj.time_ps[k])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AnalysisError, match="does not exist"):
        read_h5md(tmp_path / "nothing.h5md")
    with pytest.raises(AnalysisError, match="same atoms"):
        from_atoms([Atoms("H2", positions=np.zeros((2, 3))), Atoms("H", positions=np.zeros((1, 3)))])
