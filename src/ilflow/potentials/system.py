"""The system pytree the potentials work on: padded positions, cell, element indices and masks."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ilflow.runtime import ensure_configured


class System(NamedTuple):
    """One configuration, padded to a fixed size. Batches and ensembles are vmapped over this.

    positions: (N, 3) Å, float64; padding atoms anywhere (they are masked).
    cell: (3, 3) Å, rows are lattice vectors.
    species: (N,) int, index into the model's element list (padding: 0, masked).
    mask: (N,) bool, True for real atoms.
    """

    positions: jax.Array
    cell: jax.Array
    species: jax.Array
    mask: jax.Array


class Neighbors(NamedTuple):
    """A dense neighbour list: for atom i, up to K neighbours j at image shift S (the vector is R_j - R_i + S @ cell).

    idx: (N, K) int32, neighbour index; N (one past the last atom) marks an empty slot.
    shifts: (N, K, 3) integer lattice translations of the neighbour (float64 in host-built lists, int16 in lists
    built on device).
    """

    idx: jax.Array
    shifts: jax.Array


def species_indices(numbers: np.ndarray, elements: tuple[int, ...]) -> np.ndarray:
    """Map atomic numbers to positions in `elements`; ValueError naming unknown elements."""
    lookup = {z: k for k, z in enumerate(elements)}
    unknown = sorted({int(z) for z in numbers} - set(lookup))
    if unknown:
        from ase.data import chemical_symbols

        names = ", ".join(chemical_symbols[z] for z in unknown)
        raise ValueError(f"the model knows elements {[chemical_symbols[z] for z in elements]}, not {names}")
    return np.array([lookup[int(z)] for z in numbers], dtype=np.int32)


def make_system(atoms, elements: tuple[int, ...], n_pad: int | None = None) -> System:
    """A System from ASE Atoms, padded with masked atoms to `n_pad` (default: no padding)."""
    ensure_configured()  # positions and cell in float64
    n = len(atoms)
    n_pad = n if n_pad is None else n_pad
    positions = np.zeros((n_pad, 3))
    positions[:n] = atoms.positions
    species = np.zeros(n_pad, dtype=np.int32)
    species[:n] = species_indices(atoms.numbers, elements)
    mask = np.zeros(n_pad, dtype=bool)
    mask[:n] = True
    cell = np.asarray(atoms.cell.array, dtype=float)
    if not atoms.pbc.all():
        if atoms.pbc.any():
            raise ValueError("mixed periodicity is not supported; use pbc all True or all False")
        cell = np.zeros((3, 3))
    return System(jnp.asarray(positions), jnp.asarray(cell), jnp.asarray(species), jnp.asarray(mask))
