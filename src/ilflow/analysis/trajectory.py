"""Trajectories as arrays: a small container, readers (H5MD, ASE frames), unwrapping and molecular centres.

Positions and cells in Å (cell rows are the lattice vectors, as in ASE), times in ps, masses in amu.

unwrap: each frame's positions are moved by whole lattice vectors of that frame's cell to the image closest to
the previous unwrapped position, u_t = x_t - round((x_t - u_{t-1}) h_t^-1) h_t, the image found in fractional
coordinates of h_t. With a fluctuating cell (NPT) this is the scheme of Kulke & Vermaas, J. Chem. Theory
Comput. 18, 6161 (2022) (see also von Buelow, Bullerjahn & Hummer, J. Chem. Phys. 153, 021101 (2020)), which
does not scale accumulated displacements with the box. It is exact while atoms move less than half the
smallest perpendicular width of the cell between frames.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.errors import IlflowError

FS_IN_PS = 1e-3  # H5MD times are written in fs


class AnalysisError(IlflowError, ValueError):
    """Analysis input that cannot give a meaningful result (a too-long cutoff, too few frames, bad shapes)."""


@dataclass(frozen=True)
class Trajectory:
    """F frames of N atoms: positions (F, N, 3) Å, cells (F, 3, 3) Å (rows = lattice vectors), time_ps (F,),
    numbers (N,) atomic numbers, masses (N,) amu, molecule_id (N,) ints or None when unknown."""

    positions: np.ndarray
    cells: np.ndarray
    time_ps: np.ndarray
    numbers: np.ndarray
    masses: np.ndarray
    molecule_id: np.ndarray | None = None

    def __post_init__(self):
        positions = np.asarray(self.positions, dtype=float)
        if positions.ndim != 3 or positions.shape[2] != 3:
            raise AnalysisError(f"positions must have shape (frames, atoms, 3), not {positions.shape}")
        n_frames, n_atoms = positions.shape[:2]
        cells = np.asarray(self.cells, dtype=float)
        if cells.shape == (3, 3):
            cells = np.broadcast_to(cells, (n_frames, 3, 3)).copy()
        if cells.shape != (n_frames, 3, 3):
            raise AnalysisError(f"cells must have shape ({n_frames}, 3, 3) or (3, 3), not {cells.shape}")
        time_ps = np.asarray(self.time_ps, dtype=float)
        if time_ps.shape != (n_frames,):
            raise AnalysisError(f"time_ps must have shape ({n_frames},), not {time_ps.shape}")
        numbers, masses = np.asarray(self.numbers, dtype=int), np.asarray(self.masses, dtype=float)
        if numbers.shape != (n_atoms,) or masses.shape != (n_atoms,):
            raise AnalysisError(f"numbers and masses must have shape ({n_atoms},), not {numbers.shape}, {masses.shape}")
        molecule_id = None if self.molecule_id is None else np.asarray(self.molecule_id, dtype=int)
        if molecule_id is not None and molecule_id.shape != (n_atoms,):
            raise AnalysisError(f"molecule_id must have shape ({n_atoms},), not {molecule_id.shape}")
        for name, value in (("positions", positions), ("cells", cells), ("time_ps", time_ps), ("numbers", numbers),
                            ("masses", masses), ("molecule_id", molecule_id)):
            object.__setattr__(self, name, value)

    @property
    def n_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[1]

    @property
    def volumes_A3(self) -> np.ndarray:
        """Cell volume of every frame (Å^3)."""
        return np.abs(np.linalg.det(self.cells))

    def frames(self, index) -> "Trajectory":
        """The trajectory restricted to some frames (a slice or an index array); atoms unchanged."""
        index = np.arange(self.n_frames)[index]
        return replace(self, positions=self.positions[index], cells=self.cells[index], time_ps=self.time_ps[index])

    def atoms(self, frame: int = 0) -> Atoms:
        """One frame as periodic ase.Atoms (with masses, and `molecule_id` in atoms.arrays when known)."""
        atoms = Atoms(numbers=self.numbers, positions=self.positions[frame], cell=self.cells[frame], pbc=True,
                      masses=self.masses)
        if self.molecule_id is not None:
            atoms.new_array("molecule_id", self.molecule_id)
        return atoms


def from_atoms(frames: Sequence[Atoms], time_ps: Sequence[float] | None = None) -> Trajectory:
    """A Trajectory from ASE frames (same atoms in the same order); molecule_id from the first frame's arrays.

    time_ps: one time per frame; by default each frame's info["time_ps"], else 0, 1, 2, ... (frame numbers).
    """
    frames = list(frames)
    if not frames:
        raise AnalysisError("no frames given")
    first = frames[0]
    if any(len(a) != len(first) or (a.numbers != first.numbers).any() for a in frames):
        raise AnalysisError("all frames must hold the same atoms in the same order")
    if time_ps is None:
        has_time = all("time_ps" in a.info for a in frames)
        time_ps = [a.info["time_ps"] for a in frames] if has_time else np.arange(len(frames), dtype=float)
    molecule_id = first.arrays.get("molecule_id")
    return Trajectory(np.stack([a.positions for a in frames]), np.stack([a.cell.array for a in frames]),
                      np.asarray(time_ps, dtype=float), first.numbers.copy(), first.get_masses(),
                      None if molecule_id is None else molecule_id.copy())


def after_equilibration(time_ps: np.ndarray, equilibration_ps: float) -> np.ndarray:
    """Indices of the frames the analysis uses: time_ps >= equilibration_ps (1e-9 ps of slack for round-off)."""
    return np.flatnonzero(np.asarray(time_ps) >= equilibration_ps - 1e-9)


def read_h5md(path: str | Path, template: Atoms | None = None, frames=slice(None)) -> Trajectory:
    """Read an H5MD trajectory as written by ilflow's MD (ilflow.md.h5md): /particles/trajectory/position and
    box/edges (value (F, 3, 3), or (F, 3) / (3,) / (3, 3) as other writers store them), time (fs unless its unit
    attribute says ps or ns), species and mass. `frames`: a slice, or frame indices (read in increasing order).

    The file holds no molecule ids: they come from `template` (ase.Atoms with `molecule_id` in its arrays, e.g.
    the built box), else they stay None (molecule_centres then finds molecules from bonds in the first frame).
    Species or masses missing from the file are taken from `template`.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"trajectory file {path} does not exist")
    select = frames if isinstance(frames, slice) else np.unique(np.asarray(frames, dtype=int))
    with h5py.File(path, "r") as f:
        if "particles" not in f or not len(f["particles"]):
            raise AnalysisError(f"{path} has no /particles group; is it an H5MD trajectory?")
        group = f["particles/trajectory"] if "particles/trajectory" in f else next(iter(f["particles"].values()))
        position = group["position"]
        positions = position["value"][select]
        if not position["time"].shape:  # H5MD allows a fixed time step as a scalar; ilflow writes every time
            raise AnalysisError(f"{path}: position/time is a fixed step, not one time per frame; not supported")
        time = position["time"][select]
        unit = position["time"].attrs.get("unit", "fs")
        edges = group["box/edges"]
        per_frame = isinstance(edges, h5py.Group)
        cells = edges["value"][select] if per_frame else edges[()]
        numbers, masses = _static(group, "species"), _static(group, "mass")
    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    scale = {"fs": FS_IN_PS, "ps": 1.0, "ns": 1e3}.get(unit)
    if scale is None:
        raise AnalysisError(f"{path}: unknown time unit {unit!r} (expected fs, ps or ns)")
    if template is not None and len(template) != positions.shape[1]:
        raise AnalysisError(f"template has {len(template)} atoms, {path} has {positions.shape[1]}")
    if numbers is None or masses is None:
        if template is None:
            raise AnalysisError(f"{path} stores no species or masses; pass the structure as `template`")
        numbers = template.numbers if numbers is None else numbers
        masses = template.get_masses() if masses is None else masses
    molecule_id = None
    if template is not None and "molecule_id" in template.arrays:
        molecule_id = template.arrays["molecule_id"].copy()
    cells = _as_matrices(cells, len(positions), per_frame)
    return Trajectory(positions, cells, time * scale, numbers, masses, molecule_id)


def _static(group, name):
    if name not in group:
        return None
    item = group[name]
    data = item["value"][0] if hasattr(item, "keys") else item[()]  # time-dependent: take the first frame
    return np.asarray(data)


def _as_matrices(edges: np.ndarray, n_frames: int, per_frame: bool) -> np.ndarray:
    """Box edges in any H5MD form -> (F, 3, 3): edge vectors of an orthorhombic box become diagonal matrices."""
    edges = np.asarray(edges, dtype=float)
    matrix = edges.ndim == (3 if per_frame else 2)
    if matrix and edges.shape[-2:] == (3, 3):
        return np.broadcast_to(edges, (n_frames, 3, 3)).copy()
    if not matrix and edges.shape[-1] == 3:
        return np.einsum("fi,ij->fij", np.broadcast_to(edges, (n_frames, 3)), np.eye(3))
    raise AnalysisError(f"unsupported box/edges shape {edges.shape}")


def minimum_image(vectors: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Difference vectors (..., 3) Å moved to their image closest to zero by rounding fractional coordinates.

    cells: (3, 3), or (..., 3, 3) broadcastable against the vectors' leading axes. Exact for vectors shorter
    than half the cell's smallest perpendicular width (then every fractional coordinate is within +-1/2);
    longer ones in a skewed cell may have a shorter image among the 26 neighbours.
    """
    cells = np.asarray(cells, dtype=float)
    if cells.ndim == 2:
        frac = vectors @ np.linalg.inv(cells)
        return (frac - np.round(frac)) @ cells
    frac = np.einsum("...i,...ij->...j", vectors, np.linalg.inv(cells))
    return np.einsum("...i,...ij->...j", frac - np.round(frac), cells)


def unwrap(positions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Unwrapped positions (F, N, 3) Å: every frame moved by lattice vectors of its own cell to the image closest
    to the previous unwrapped frame (Kulke & Vermaas 2022, see the module docstring). cells: (F, 3, 3) or (3, 3)."""
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    if cells.ndim == 3 and np.all(cells == cells[0]):
        cells = cells[0]
    if cells.ndim == 2:  # fixed cell: the same scheme as a cumulative sum of minimum-image steps
        steps = minimum_image(np.diff(positions, axis=0), cells)
        return np.concatenate([positions[:1], positions[:1] + np.cumsum(steps, axis=0)])
    out = np.empty_like(positions)
    out[0] = positions[0]
    for t in range(1, len(positions)):
        out[t] = out[t - 1] + minimum_image(positions[t] - out[t - 1], cells[t])
    return out


def molecule_ids(traj: Trajectory) -> np.ndarray:
    """Molecule ids renumbered 0..M-1 in order of first appearance; from bonds in frame 0 when unknown."""
    if traj.molecule_id is None:
        from ilflow.system.topology import find_molecules

        return find_molecules(traj.atoms(0))
    _, first, inverse = np.unique(traj.molecule_id, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def molecule_formulas(traj: Trajectory) -> list[str]:
    """Hill formula of every molecule (e.g. 'C8H15N2', 'BF4'), molecules in order of first atom."""
    from ase.formula import Formula
    from ase.symbols import chemical_symbols

    ids = molecule_ids(traj)
    return [Formula.from_list([chemical_symbols[z] for z in traj.numbers[ids == m]]).format("hill")
            for m in range(ids.max() + 1)]


def molecule_centres(traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Centres of mass (F, M, 3) Å and masses (M,) amu of the M molecules, in order of their first atom.

    Every molecule is made whole first: each atom moved to its minimum image relative to the molecule's first
    atom (molecules must be smaller than half the cell). Centres follow the atoms' images: unwrapped atoms give
    unwrapped centres; for wrapped ones pass the centres through `unwrap`.
    """
    ids = molecule_ids(traj)
    order = np.argsort(ids, kind="stable")
    starts = np.searchsorted(ids[order], np.arange(ids.max() + 1))
    anchor = order[starts][ids]  # first atom of each atom's molecule
    whole = traj.positions[:, anchor] + minimum_image(traj.positions - traj.positions[:, anchor], traj.cells[:, None])
    mass = np.add.reduceat(traj.masses[order], starts)
    sums = np.add.reduceat((whole * traj.masses[None, :, None])[:, order], starts, axis=1)
    return sums / mass[None, :, None], mass


def molecule_sizes_A(traj: Trajectory, frame: int = 0) -> np.ndarray:
    """Van der Waals extent (M,) Å of every molecule in `frame`: the largest d_ij + r_i + r_j over its atom pairs
    (r: van der Waals radii of ase.data, 2 Å where it has none), so a single ion counts its diameter, 2 r."""
    from ase.data import vdw_radii

    ids = molecule_ids(traj)
    radii = np.nan_to_num(vdw_radii[traj.numbers], nan=2.0)
    x, cell = traj.positions[frame], traj.cells[frame]
    sizes = np.empty(ids.max() + 1)
    for m in range(len(sizes)):
        index = np.flatnonzero(ids == m)
        d = np.linalg.norm(minimum_image(x[index][:, None] - x[index][None, :], cell), axis=-1)
        sizes[m] = np.max(d + radii[index][:, None] + radii[index][None, :])
    return sizes
