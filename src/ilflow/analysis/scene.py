"""The report's 3D scene: the build box and a thinned production trajectory, molecules whole across the periodic
boundary, sized to a byte budget.

A molecule is made whole along a spanning tree of its bonds in the first frame (breadth first from its first
atom): each atom sits at its parent + the minimum-image vector between them, level by level, for all frames at
once. That is exact while every bond is shorter than half the cell's smallest width, which holds for any box a
model can run in (bonds < 2 Å). Each molecule is then moved by a lattice vector so that the mean of its atoms lies
inside the cell: the picture shows the box filled with whole molecules, as a chemist draws it.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from ilflow.analysis.trajectory import Trajectory, minimum_image, molecule_ids
from ilflow.records import Record

DECIMALS = 2  # positions and cells in the scene: 0.01 Å, far below what a picture shows
# pairs within one molecule closer than 1.5 x the sum of covalent radii span its tree: any such pair is far shorter
# than half a box, and a bond a hot frame stretched beyond the 1.2 x of the bond criterion still connects
TREE_BOND_SCALE = 1.5


@dataclass(frozen=True)
class SceneView(Record):
    """One thing to look at: frames of one box (a single frame for the build box)."""

    title: str
    symbols: list[str]
    species: list[int]  # per atom: index into Scene.species_names
    time_ps: list[float]
    cells_A: list  # (F, 3, 3), rows are the lattice vectors
    positions_A: list  # (F, N, 3), molecules whole
    every: int = 1  # frames kept: every this many of the run's frames

    @property
    def n_frames(self) -> int:
        return len(self.time_ps)


@dataclass(frozen=True)
class Scene(Record):
    species_names: list[str]
    views: list[SceneView]

    def json_text(self) -> str:
        """The scene as compact JSON, safe inside an HTML <script> element."""
        return json.dumps(self.to_dict(), separators=(",", ":")).replace("</", "<\\/")

    def fitted(self, max_bytes: int) -> "Scene | None":
        """The scene thinned (every 2nd, 3rd, ... frame of its longest views) until its JSON has at most max_bytes;
        None when not even one frame per view fits."""
        scene = self
        for _ in range(64):
            size = len(scene.json_text())
            if size <= max_bytes:
                return scene
            longest = max(scene.views, key=lambda v: v.n_frames * len(v.symbols))
            if longest.n_frames == 1:
                return None
            factor = max(2, math.ceil(size / max_bytes))
            scene = Scene(scene.species_names, [_thin(v, factor) if v is longest else v for v in scene.views])
        return None


def _thin(view: SceneView, factor: int) -> SceneView:
    keep = slice(None, None, factor)
    return SceneView(view.title, view.symbols, view.species, view.time_ps[keep], view.cells_A[keep],
                     view.positions_A[keep], view.every * factor)


def bond_tree_levels(positions: np.ndarray, cell: np.ndarray, numbers: np.ndarray,
                     molecule_id: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(children, parents) atom indices per depth of a breadth-first spanning tree of each molecule's bonds in one
    frame (bonds: ilflow.system.topology's covalent criterion, within a molecule only)."""
    from ase import Atoms

    from ilflow.system.topology import bond_pairs

    i, j, _ = bond_pairs(Atoms(numbers, positions=positions, cell=cell, pbc=True), TREE_BOND_SCALE)
    same = molecule_id[i] == molecule_id[j]
    n = len(numbers)
    graph = coo_matrix((np.ones(int(same.sum())), (i[same], j[same])), shape=(n, n)).tocsr()
    depth = np.full(n, -1)
    parent = np.full(n, -1)
    for start in np.unique(molecule_id, return_index=True)[1]:
        order, predecessors = breadth_first_order(graph, start, directed=False, return_predecessors=True)
        depth[start] = 0
        for atom in order[1:]:
            parent[atom] = predecessors[atom]
            depth[atom] = depth[parent[atom]] + 1
    if (depth < 0).any():
        loose = np.flatnonzero(depth < 0)[:5].tolist()
        raise ValueError(f"atoms {loose} are not bonded to the rest of their molecule")
    return [(np.flatnonzero(depth == d), parent[depth == d]) for d in range(1, depth.max() + 1)]


def whole_molecules(positions: np.ndarray, cells: np.ndarray, molecule_id: np.ndarray,
                    levels: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Positions (F, N, 3) Å with every molecule whole (along `levels` from bond_tree_levels) and the mean of its
    atoms inside the cell; cells (F, 3, 3)."""
    x = np.array(positions, dtype=float)
    for children, parents in levels:
        x[:, children] = x[:, parents] + minimum_image(x[:, children] - x[:, parents], cells[:, None])
    count = np.bincount(molecule_id)
    centres = np.stack([np.stack([np.bincount(molecule_id, weights=frame[:, k]) for k in range(3)], -1)
                        for frame in x]) / count[None, :, None]
    frac = np.einsum("fmi,fij->fmj", centres, np.linalg.inv(cells))
    shift = np.einsum("fmi,fij->fmj", -np.floor(frac), cells)
    return x + shift[:, molecule_id]


def view_of(title: str, traj: Trajectory, species_of_atom: list[str], species_names: list[str],
            max_bytes: int) -> SceneView:
    """A view of `traj` (molecule ids from its molecule_id or bonds), thinned to about max_bytes of JSON."""
    from ase.data import chemical_symbols

    ids = molecule_ids(traj)
    bytes_per_frame = len(json.dumps(np.round(traj.positions[0], DECIMALS).tolist(), separators=(",", ":"))) + 120
    every = max(1, math.ceil(traj.n_frames * bytes_per_frame / max(max_bytes, 1)))
    kept = traj.frames(slice(None, None, every))
    levels = bond_tree_levels(kept.positions[0], kept.cells[0], kept.numbers, ids)
    whole = whole_molecules(kept.positions, kept.cells, ids, levels)
    return SceneView(title=title, symbols=[chemical_symbols[z] for z in traj.numbers],
                     species=[species_names.index(s) for s in species_of_atom],
                     time_ps=np.round(kept.time_ps, 4).tolist(), cells_A=np.round(kept.cells, DECIMALS).tolist(),
                     positions_A=np.round(whole, DECIMALS).tolist(), every=every)


def species_of_atoms(atoms) -> list[str]:
    """Species name of every atom of a box ilflow built (its species_name array; else the molecule's formula)."""
    from ase.formula import Formula

    from ilflow.system import topology

    if "species_name" in atoms.arrays:
        return [str(s) for s in atoms.arrays["species_name"]]
    ids = topology.molecule_ids(atoms)
    formulas = {m: Formula.from_list(atoms[ids == m].get_chemical_symbols()).format("hill") for m in np.unique(ids)}
    return [formulas[m] for m in ids]


def write_scene(path: Path, build_box: Path | None, run: tuple[str, Path, Trajectory] | None,
                max_bytes: int) -> Path | None:
    """scene.json at `path` from the build box and one production run ((title, packed box, trajectory)), the
    run thinned to fit max_bytes together with the box; None (nothing written) when there is nothing to show."""
    from ilflow.analysis.trajectory import from_atoms
    from ilflow.io import read_frames

    sources = []
    if build_box is not None and build_box.exists():
        atoms = read_frames(build_box)[0]
        sources.append(("build box", from_atoms([atoms], [0.0]), species_of_atoms(atoms)))
    if run is not None:
        title, packed, traj = run
        sources.append((title, traj, species_of_atoms(read_frames(packed)[0])))
    if not sources:
        return None
    names = list(dict.fromkeys(s for _, _, species in sources for s in species))
    views, left = [], max_bytes
    for title, traj, species in sources:
        views.append(view_of(title, traj, species, names, left))
        left -= len(json.dumps(views[-1].to_dict(), separators=(",", ":")))
    fitted = Scene(names, views).fitted(max_bytes)
    return None if fitted is None else fitted.save(path)
