"""Initial frames for any liquid, without a force field: perturbed copies of a packed box.

Each frame: every molecule rotated rigidly about its centre of mass (random axis, angle up to
max_rotation_deg) and translated (up to max_shift_A), the box compressed or expanded with molecules rigid
(volume factor drawn from volume_range), then every atom rattled (uniform in +-rattle_A per component). A draw whose molecules come closer than
min_distance_A, or whose bond graph differs from the box's, is drawn again. Deterministic for a given seed.
"""

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from ilflow.errors import IlflowError
from ilflow.system.topology import bond_graph, min_intermolecular_distance, molecule_ids, scale_cell_rigid, unwrap_molecules

MAX_DRAWS = 50


def perturbed(atoms: Atoms, rng: np.random.Generator, max_rotation_deg: float, max_shift_A: float,
              volume_factor: float, rattle_A: float) -> Atoms:
    """One perturbed copy (molecules whole)."""
    ids = molecule_ids(atoms)
    out = atoms.copy()
    out.positions = unwrap_molecules(atoms, ids)
    masses = atoms.get_masses()
    for mol in np.unique(ids):
        index = np.flatnonzero(ids == mol)
        com = masses[index] @ out.positions[index] / masses[index].sum()
        axis = rng.normal(size=3)
        angle = np.radians(rng.uniform(0.0, max_rotation_deg))
        rotation = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle)
        shift = rng.normal(size=3)
        shift *= rng.uniform(0.0, max_shift_A) / np.linalg.norm(shift)
        out.positions[index] = rotation.apply(out.positions[index] - com) + com + shift
    out = scale_cell_rigid(out, atoms.cell.array * volume_factor ** (1 / 3), ids)
    out.positions += rng.uniform(-rattle_A, rattle_A, size=out.positions.shape)  # bounded: bonds stay bonds
    return out


def bootstrap_frames(atoms: Atoms, n_frames: int, seed: int = 0, max_rotation_deg: float = 25.0,
                     max_shift_A: float = 0.5, volume_range: tuple[float, float] = (0.92, 1.15),
                     rattle_A: float = 0.05, min_distance_A: float = 1.3) -> list[Atoms]:
    """`n_frames` perturbed copies of a packed box, each with `info` saying how it was made."""
    rng = np.random.default_rng(seed)
    ids = molecule_ids(atoms)
    bonds = bond_graph(atoms)
    frames = []
    for k in range(n_frames):
        for _ in range(MAX_DRAWS):
            factor = float(rng.uniform(*volume_range))
            frame = perturbed(atoms, rng, max_rotation_deg, max_shift_A, factor, rattle_A)
            if bond_graph(frame) == bonds and \
                    min_intermolecular_distance(frame, ids, cutoff=min_distance_A + 0.1) >= min_distance_A:
                break
        else:
            raise IlflowError(f"bootstrap frame {k}: no perturbation in {MAX_DRAWS} draws keeps molecules "
                              f"{min_distance_A} Å apart; pack the box at a lower density")
        frame.info.update(source="bootstrap", volume_factor=factor, seed=int(seed), draw=k)
        frames.append(frame)
    return frames
