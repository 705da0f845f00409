"""Per-element energy shift (ridge regression on element counts) and scale (per-element force RMS)."""

from collections.abc import Sequence

import numpy as np
from ase import Atoms


def element_counts(frames: Sequence[Atoms], elements: tuple[int, ...]) -> np.ndarray:
    return np.array([[np.sum(a.numbers == z) for z in elements] for a in frames], dtype=float)


def energy_shift(frames: Sequence[Atoms], elements: tuple[int, ...], ridge: float = 1.0) -> np.ndarray:
    """Per-element energies w minimising |X w - E|^2 + ridge |w|^2, X the element counts (eV per atom)."""
    x = element_counts(frames, elements)
    e = np.array([a.get_potential_energy() for a in frames])
    return np.linalg.solve(x.T @ x + ridge * np.eye(len(elements)), x.T @ e)


def force_scale(frames: Sequence[Atoms], elements: tuple[int, ...]) -> np.ndarray:
    """Root mean square of the force components on each element (eV/Å); 1 where an element has none."""
    numbers = np.concatenate([a.numbers for a in frames])
    forces = np.concatenate([a.get_forces() for a in frames])
    scale = np.ones(len(elements))
    for k, z in enumerate(elements):
        f = forces[numbers == z]
        if f.size:
            scale[k] = max(float(np.sqrt(np.mean(f**2))), 1e-3)
    return scale
