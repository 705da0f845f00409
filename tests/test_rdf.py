"""Radial distribution functions: ideal gas, simple cubic lattice (any cell), MDAnalysis, molecular centres."""

import itertools

import numpy as np
import pytest

from ilflow.analysis import AnalysisError, Trajectory, all_element_pairs, from_atoms, molecular_rdf, rdf

TRICLINIC = np.array([[20.0, 0.0, 0.0], [5.0, 19.0, 0.0], [3.0, 4.0, 18.0]])


def _half_width(cell: np.ndarray) -> float:
    """Half the smallest distance between opposite faces, V / |a x b| etc., written out by hand."""
    a, b, c = cell
    volume = abs(np.dot(a, np.cross(b, c)))
    return 0.5 * min(volume / np.linalg.norm(np.cross(b, c)), volume / np.linalg.norm(np.cross(c, a)),
                     volume / np.linalg.norm(np.cross(a, b)))


def _random_trajectory(n_atoms: int, n_frames: int, cell: np.ndarray, seed: int = 0) -> np.ndarray:
    frac = np.random.default_rng(seed).random((n_frames, n_atoms, 3))
    return frac @ cell


@pytest.mark.parametrize("cell", [TRICLINIC, np.diag([18.0, 19.0, 20.0])], ids=["triclinic", "orthorhombic"])
def test_ideal_gas_is_one(cell):
    x = _random_trajectory(500, 50, cell)
    r_max = 8.0
    assert r_max <= _half_width(cell)
    result = rdf(x, (np.arange(500), np.arange(500)), r_max, bins=40, cells=cell)
    far = result.r_A > 2.0
    assert abs(result.g[far].mean() - 1.0) < 0.03
    # every bin within 5 sigma of 1, sigma from the expected number of pairs in it
    expected = 50 * 500 * 499 / abs(np.linalg.det(cell)) * 4 / 3 * np.pi * np.diff(result.edges_A**3)
    assert np.all(np.abs(result.g[far] - 1.0) < 5.0 / np.sqrt(expected[far]))
    # n(r) of an ideal gas: (N - 1) / V * 4/3 pi r^3
    density = 499 / abs(np.linalg.det(cell))
    assert result.n[-1] == pytest.approx(density * 4 / 3 * np.pi * r_max**3, rel=0.02)


def _lattice_counts(edges: np.ndarray, a: float) -> np.ndarray:
    """Number of simple-cubic lattice points at 0 < distance < r, for r at the upper bin edges (brute force)."""
    k = np.arange(-4, 5)
    d = a * np.linalg.norm(np.array(list(itertools.product(k, k, k))), axis=1)
    d = d[d > 0]
    return np.array([np.sum(d < r) for r in edges[1:]])


def _simple_cubic(cell: np.ndarray, a: float = 3.0) -> np.ndarray:
    """All sites of the lattice a Z^3 inside a cell made of lattice vectors, one per site class."""
    k = np.arange(-12, 13)
    points = a * np.array(list(itertools.product(k, k, k)), dtype=float)
    frac = np.round(points @ np.linalg.inv(cell), 9) % 1.0
    return np.unique(np.round(frac, 6) % 1.0, axis=0) @ cell


@pytest.mark.parametrize("cell", [np.diag([18.0] * 3), np.array([[18.0, 0, 0], [3.0, 18.0, 0], [-3.0, 3.0, 18.0]])],
                         ids=["cubic", "skewed"])
def test_simple_cubic_lattice_shells(cell):
    x = _simple_cubic(cell)
    assert len(x) == 216
    r_max, bins = 8.4, 100  # no lattice distance a sqrt(k) falls on a bin edge
    assert r_max <= _half_width(cell)
    result = rdf(x, (np.arange(216), np.arange(216)), r_max, bins=bins, cells=cell)
    assert result.n == pytest.approx(_lattice_counts(result.edges_A, 3.0), abs=1e-9)
    for r, count in ((3.5, 6), (4.5, 18), (5.5, 26)):
        assert result.n[np.searchsorted(result.edges_A, r) - 1] == pytest.approx(count)
    peaks = result.r_A[np.flatnonzero(result.g > 0)]
    width = r_max / bins
    for k, r in enumerate(3.0 * np.sqrt([1, 2, 3])):
        assert abs(peaks[k] - r) <= width / 2


def test_same_lattice_in_a_skewed_cell_gives_the_same_rdf():
    cubic, skewed = np.diag([18.0] * 3), np.array([[18.0, 0, 0], [3.0, 18.0, 0], [-3.0, 3.0, 18.0]])
    one = rdf(_simple_cubic(cubic), (np.arange(216), np.arange(216)), 8.4, bins=100, cells=cubic)
    two = rdf(_simple_cubic(skewed), (np.arange(216), np.arange(216)), 8.4, bins=100, cells=skewed)
    assert one.g == pytest.approx(two.g, rel=1e-9) and one.n == pytest.approx(two.n, rel=1e-9)


def test_cutoff_beyond_half_the_cell_is_refused():
    with pytest.raises(AnalysisError, match="r_max_A"):
        rdf(_random_trajectory(10, 2, TRICLINIC), (np.arange(10), np.arange(10)), 9.1, cells=TRICLINIC)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("cell", [TRICLINIC, np.diag([18.0, 19.0, 20.0])], ids=["triclinic", "orthorhombic"])
def test_agrees_with_mdanalysis(cell):
    mda = pytest.importorskip("MDAnalysis")
    from ase.geometry import cell_to_cellpar
    from MDAnalysis.analysis.rdf import InterRDF
    from MDAnalysis.coordinates.memory import MemoryReader

    x = _random_trajectory(200, 10, cell, seed=3)
    universe = mda.Universe.empty(200, n_residues=200, atom_resindex=np.arange(200), trajectory=True)
    universe.load_new(x.astype(np.float32), format=MemoryReader,
                      dimensions=np.tile(cell_to_cellpar(cell), (10, 1)).astype(np.float32))
    x = np.array([ts.positions for ts in universe.trajectory], dtype=float)  # the same float32 coordinates
    a, b = universe.atoms[:80], universe.atoms[80:]
    ref_ab = InterRDF(a, b, nbins=50, range=(0.0, 8.0)).run()
    ref_aa = InterRDF(a, a, nbins=50, range=(0.0, 8.0), exclusion_block=(1, 1)).run()
    ours_ab = rdf(x, (np.arange(80), np.arange(80, 200)), 8.0, bins=50, cells=cell)
    ours_aa = rdf(x, (np.arange(80), np.arange(80)), 8.0, bins=50, cells=cell)
    assert ours_ab.r_A == pytest.approx(ref_ab.results.bins)
    assert ours_ab.g == pytest.approx(ref_ab.results.rdf, rel=1e-4, abs=1e-6)
    assert ours_aa.g == pytest.approx(ref_aa.results.rdf, rel=1e-4, abs=1e-6)


def test_element_pairs_and_molecular_centres(box_2_pairs):
    traj = from_atoms([box_2_pairs] * 2)
    r_max = 4.0
    pairs = all_element_pairs(traj, r_max, bins=40)
    assert set(pairs) == {"B-B", "B-C", "B-F", "B-H", "B-N", "C-C", "C-F", "C-H", "C-N", "F-F", "F-H", "F-N",
                          "H-H", "H-N", "N-N"}
    for key in ("B-F", "C-H", "H-H", "F-N"):
        x, y = key.split("-")
        one = rdf(traj, (x, y), r_max, bins=40)
        assert pairs[key].g == pytest.approx(one.g) and pairs[key].n == pytest.approx(one.n)
    # every B has 4 F at 1.4 A, every C at least one H at 1.1 A
    bf = pairs["B-F"]
    assert bf.n[np.searchsorted(bf.edges_A, 1.7) - 1] == pytest.approx(4.0)
    cation_anion = molecular_rdf(traj, ("C8H15N2", "BF4"), r_max, bins=40)
    assert cation_anion.label == "C8H15N2-BF4" and np.isfinite(cation_anion.g).all()


def test_molecular_rdf_of_point_molecules_equals_the_atomic_rdf():
    """Diatomics of two equal atoms: centres are the bond midpoints, computed here by hand."""
    rng = np.random.default_rng(5)
    n = 60
    cell = np.diag([15.0, 16.0, 17.0])
    centres = rng.random((4, n, 3)) @ cell
    bond = rng.normal(size=(4, n, 3))
    bond = 0.5 * bond / np.linalg.norm(bond, axis=-1, keepdims=True)
    atoms = np.stack([centres - bond, centres + bond], axis=2).reshape(4, 2 * n, 3)
    traj = Trajectory(atoms, cell, np.arange(4.0), np.full(2 * n, 7), np.full(2 * n, 14.0), np.repeat(np.arange(n), 2))
    ours = molecular_rdf(traj, ("N2", "N2"), 7.0, bins=35)
    reference = rdf(centres, (np.arange(n), np.arange(n)), 7.0, bins=35, cells=cell)
    assert ours.g == pytest.approx(reference.g, abs=1e-12)
