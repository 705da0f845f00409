"""Radial distribution functions g(r) and running coordination numbers n(r), any triclinic cell.

For atoms a in A and b in B (ordered pairs, a != b), over F frames:
  g(r) = sum_f H_f(r) / (P * sum_f (1 / V_f) * 4/3 pi (r_hi^3 - r_lo^3)),   P = N_A N_B - |A and B|,
so identical sets are normalised by N_A (N_A - 1) (Allen & Tildesley, Computer Simulation of Liquids, 2nd ed.,
sec. 8.2); n(r) = sum_f (pairs closer than r_hi) / (F N_A), the mean number of B atoms within r of an A atom.
r_max is at most half the cell's smallest perpendicular width: then every pair has at most one image within
r_max and the fractional-coordinate minimum image finds it (no other of the 27 images can be closer).
"""

from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers, chemical_symbols
from scipy.spatial import cKDTree

from ilflow.analysis.trajectory import AnalysisError, Trajectory, molecule_centres, molecule_formulas

CHUNK_PAIRS = 2_000_000  # pair distances held at once by the dense (triclinic) search


@dataclass(frozen=True)
class RDF:
    """r_A: bin centres (Å); g: g(r); n: running coordination number at the bins' upper edges; edges_A: bins."""

    r_A: np.ndarray
    g: np.ndarray
    n: np.ndarray
    edges_A: np.ndarray
    label: str = ""


def max_cutoff_A(cells: np.ndarray) -> float:
    """Largest r_max (Å) allowed by cells (3, 3) or (F, 3, 3): half the smallest perpendicular width, V / |a x b|
    for the face spanned by a and b, over all faces and frames."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    volume = np.abs(np.linalg.det(cells))
    widths = volume[:, None] / np.linalg.norm(np.cross(cells[:, [1, 2, 0]], cells[:, [2, 0, 1]]), axis=-1)
    return float(widths.min() / 2)


def pair_distances(positions: np.ndarray, cell: np.ndarray, a: np.ndarray, b: np.ndarray, r_max_A: float):
    """Ordered pairs (i in a, j in b, i != j) closer than r_max_A in one frame, as positions into a and b, and
    their minimum-image distances (Å). r_max_A must not exceed max_cutoff_A(cell)."""
    cell = np.asarray(cell, dtype=float)
    xa, xb = positions[a], positions[b]
    if np.allclose(cell, np.diag(np.diag(cell))):  # orthorhombic: periodic k-d tree
        box = np.diag(cell).copy()
        wrap = lambda x: np.where((w := np.mod(x, box)) >= box, 0.0, w)  # noqa: E731  (mod can round up to L)
        tree_a, tree_b = cKDTree(wrap(xa), boxsize=box), cKDTree(wrap(xb), boxsize=box)
        found = tree_a.sparse_distance_matrix(tree_b, r_max_A, output_type="ndarray")
        i, j, d = found["i"], found["j"], found["v"]
        keep = (a[i] != b[j]) & (d < r_max_A)
        return i[keep], j[keep], d[keep]
    out_i, out_j, out_d = [], [], []
    chunk = max(1, CHUNK_PAIRS // max(1, len(b)))
    inverse = np.linalg.inv(cell)
    fb = xb @ inverse
    for start in range(0, len(a), chunk):
        frac = fb[None, :, :] - (xa[start:start + chunk] @ inverse)[:, None, :]
        frac -= np.round(frac)
        d = np.linalg.norm(frac @ cell, axis=-1)
        i, j = np.nonzero((d < r_max_A) & (a[start:start + chunk, None] != b[None, :]))
        out_i.append(i + start)
        out_j.append(j)
        out_d.append(d[i, j])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def _check_cutoff(cells: np.ndarray, r_max_A: float) -> None:
    limit = max_cutoff_A(cells)
    if not 0 < r_max_A <= limit * (1 + 1e-12):
        raise AnalysisError(f"r_max_A = {r_max_A:g} A must be positive and at most {limit:.4g} A, half the smallest "
                            "perpendicular width of the cell over all frames; choose a smaller r_max_A or a larger box")


def _normalise(counts: np.ndarray, edges: np.ndarray, n_a: int, n_pairs: int, inverse_volumes: np.ndarray,
               label: str) -> RDF:
    """RDF from pair counts per bin summed over frames."""
    shells = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    ideal = n_pairs * inverse_volumes.sum() * shells
    g = np.divide(counts, ideal, out=np.zeros_like(ideal), where=ideal > 0)
    n = np.cumsum(counts) / (len(inverse_volumes) * n_a) if n_a else np.zeros_like(g)
    return RDF(0.5 * (edges[1:] + edges[:-1]), g, n, edges, label)


def rdf_positions(positions: np.ndarray, cells: np.ndarray, a: np.ndarray, b: np.ndarray, r_max_A: float,
                  bins: int = 200, label: str = "") -> RDF:
    """g(r) between index sets a and b of positions (F, N, 3) Å in cells (F, 3, 3) or (3, 3) Å."""
    positions = np.asarray(positions, dtype=float)
    if positions.ndim == 2:
        positions = positions[None]
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (len(positions), 3, 3))
    a, b = np.asarray(a, dtype=int).ravel(), np.asarray(b, dtype=int).ravel()
    _check_cutoff(cells, r_max_A)
    if bins < 1:
        raise AnalysisError(f"bins must be at least 1, not {bins}")
    edges = np.linspace(0.0, r_max_A, bins + 1)
    counts = np.zeros(bins)
    for x, cell in zip(positions, cells):
        counts += np.histogram(pair_distances(x, cell, a, b, r_max_A)[2], bins=edges)[0]
    n_pairs = len(a) * len(b) - len(np.intersect1d(a, b))
    return _normalise(counts, edges, len(a), n_pairs, 1.0 / np.abs(np.linalg.det(cells)), label)


def _selection(traj: Trajectory, item) -> tuple[np.ndarray, str]:
    """Atom indices and a label for an element (atomic number or symbol) or an index array."""
    if isinstance(item, str | int | np.integer):
        z = atomic_numbers.get(item) if isinstance(item, str) else int(item)
        if z is None:
            raise AnalysisError(f"unknown element {item!r} in an RDF pair")
        index = np.flatnonzero(traj.numbers == z)
        if not len(index):
            raise AnalysisError(f"the trajectory has no {chemical_symbols[z]} atoms (pair element {item!r})")
        return index, chemical_symbols[z]
    index = np.asarray(item, dtype=int).ravel()
    if not len(index) or index.min() < -traj.n_atoms or index.max() >= traj.n_atoms:
        raise AnalysisError(f"an RDF index selection must be non-empty atom indices below {traj.n_atoms}")
    return np.mod(index, traj.n_atoms), f"{len(index)} atoms"


def rdf(source: Trajectory | np.ndarray, pair, r_max_A: float, bins: int = 200, cells: np.ndarray | None = None) -> RDF:
    """g(r) and n(r) of a pair over all frames.

    source: a Trajectory, or positions (F, N, 3) Å with `cells` (F, 3, 3) or (3, 3) Å.
    pair: (A, B), each an element (symbol or atomic number; Trajectory only) or an array of atom indices.
    n(r) counts B atoms around an A atom. r_max_A: at most half the smallest perpendicular cell width.
    """
    if not isinstance(source, Trajectory):
        if cells is None:
            raise AnalysisError("rdf of bare positions needs `cells`")
        source = np.asarray(source, dtype=float)
        source = source[None] if source.ndim == 2 else source
        n = source.shape[1]
        source = Trajectory(source, cells, np.arange(len(source), dtype=float), np.zeros(n, int), np.ones(n))
        if any(isinstance(p, str | int | np.integer) for p in pair):
            raise AnalysisError("with bare positions the RDF pair must be two index arrays")
    (a, label_a), (b, label_b) = _selection(source, pair[0]), _selection(source, pair[1])
    return rdf_positions(source.positions, source.cells, a, b, r_max_A, bins, f"{label_a}-{label_b}")


def all_element_pairs(traj: Trajectory, r_max_A: float, bins: int = 200) -> dict[str, RDF]:
    """g(r) of every pair of elements, keyed 'X-Y' with the symbols in alphabetical order ('B-F', 'C-H', 'H-N').

    One pair search per frame over all atoms; rdf(traj, ('X', 'Y'), ...) gives the same for one key.
    """
    _check_cutoff(traj.cells, r_max_A)
    symbols = sorted({chemical_symbols[z] for z in traj.numbers})
    keys = [(x, y) for k, x in enumerate(symbols) for y in symbols[k:]]
    code = {s: k for k, s in enumerate(symbols)}
    kind = np.array([code[chemical_symbols[z]] for z in traj.numbers])
    edges = np.linspace(0.0, r_max_A, bins + 1)
    counts = np.zeros((len(symbols), len(symbols), bins))
    everyone = np.arange(traj.n_atoms)
    for x, cell in zip(traj.positions, traj.cells):
        i, j, d = pair_distances(x, cell, everyone, everyone, r_max_A)
        flat = (kind[i] * len(symbols) + kind[j]) * bins + np.clip(np.searchsorted(edges, d, side="right") - 1, 0,
                                                                     bins - 1)
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    inverse_volumes = 1.0 / traj.volumes_A3
    out = {}
    for x, y in keys:
        n_x, n_y = np.sum(kind == code[x]), np.sum(kind == code[y])
        n_pairs = n_x * (n_x - 1) if x == y else n_x * n_y
        out[f"{x}-{y}"] = _normalise(counts[code[x], code[y]], edges, n_x, n_pairs, inverse_volumes, f"{x}-{y}")
    return out


def molecular_rdf(traj: Trajectory, pair, r_max_A: float, bins: int = 200) -> RDF:
    """g(r) of molecular centres of mass, e.g. cation-anion.

    pair: (A, B), each a molecule formula as molecule_formulas gives it (e.g. 'C8H15N2', 'BF4') or an array of
    molecule indices (molecules numbered by first atom). n(r) counts B centres around an A centre.
    """
    centres, _ = molecule_centres(traj)
    formulas = np.array(molecule_formulas(traj))
    selections, labels = [], []
    for item in pair:
        if isinstance(item, str):
            index = np.flatnonzero(formulas == item)
            if not len(index):
                raise AnalysisError(f"no molecule has the formula {item!r}; the trajectory has "
                                    f"{', '.join(sorted(set(formulas)))}")
            labels.append(item)
        else:
            index = np.asarray(item, dtype=int).ravel()
            labels.append(f"{len(index)} molecules")
        selections.append(index)
    return rdf_positions(centres, traj.cells, selections[0], selections[1], r_max_A, bins, "-".join(labels))
