"""Labelled frames -> padded batches in a few size buckets, so that batches of different sizes compile once each."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ilflow.potentials.neighbors import host_neighbors, padded_capacity, widen
from ilflow.potentials.system import species_indices


@dataclass(frozen=True)
class Labelled:
    """A padded set of labelled structures of one bucket (arrays with a leading structure axis)."""

    positions: np.ndarray  # (B, N, 3)
    cell: np.ndarray  # (B, 3, 3)
    species: np.ndarray  # (B, N)
    mask: np.ndarray  # (B, N)
    idx: np.ndarray  # (B, N, K)
    shifts: np.ndarray  # (B, N, K, 3)
    energy: np.ndarray  # (B,) eV
    forces: np.ndarray  # (B, N, 3) eV/Å
    stress: np.ndarray  # (B, 3, 3) eV/Å^3 (zeros where absent)
    has_stress: np.ndarray  # (B,) bool

    def __len__(self) -> int:
        return len(self.energy)

    def take(self, rows: np.ndarray) -> "Labelled":
        return Labelled(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})


def bucket_sizes(n_atoms: Sequence[int], max_buckets: int = 4) -> list[int]:
    """At most `max_buckets` padded sizes covering all structure sizes (quantiles of the distinct sizes)."""
    sizes = np.unique(n_atoms)
    if len(sizes) <= max_buckets:
        return sizes.tolist()
    picks = np.unique(np.quantile(sizes, np.linspace(0, 1, max_buckets + 1)[1:], method="higher"))
    return picks.astype(int).tolist()


def _stress_3x3(atoms: Atoms) -> np.ndarray | None:
    try:
        s = atoms.get_stress(voigt=True)
    except Exception:
        return None
    xx, yy, zz, yz, xz, xy = s
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def to_buckets(frames: Sequence[Atoms], elements: tuple[int, ...], cutoff_A: float,
               max_buckets: int = 4) -> list[Labelled]:
    """Group frames into padded buckets with host-built neighbour lists (data are fixed during training)."""
    sizes = bucket_sizes([len(a) for a in frames], max_buckets)
    groups: dict[int, list[Atoms]] = {s: [] for s in sizes}
    for atoms in frames:
        groups[next(s for s in sizes if s >= len(atoms))].append(atoms)
    buckets = []
    for n_pad, members in groups.items():
        if not members:
            continue
        lists = [host_neighbors(a, cutoff_A, n_pad=n_pad) for a in members]  # built once per structure
        k = padded_capacity(max(int(nb.idx.shape[1]) for nb in lists))  # fewer recompilations
        lists = [widen(nb, k, n_pad) for nb in lists]
        b = len(members)
        out = {name: np.zeros(shape) for name, shape in
               [("positions", (b, n_pad, 3)), ("cell", (b, 3, 3)), ("forces", (b, n_pad, 3)), ("stress", (b, 3, 3))]}
        species = np.zeros((b, n_pad), np.int32)
        mask = np.zeros((b, n_pad), bool)
        has_stress = np.zeros(b, bool)
        energy = np.zeros(b)
        for m, atoms in enumerate(members):
            n = len(atoms)
            out["positions"][m, :n] = atoms.positions
            out["cell"][m] = atoms.cell.array if atoms.pbc.all() else 0.0
            out["forces"][m, :n] = atoms.get_forces()
            species[m, :n] = species_indices(atoms.numbers, elements)
            mask[m, :n] = True
            energy[m] = atoms.get_potential_energy()
            s = _stress_3x3(atoms) if atoms.pbc.all() else None
            if s is not None:
                out["stress"][m], has_stress[m] = s, True
        buckets.append(Labelled(out["positions"], out["cell"], species, mask,
                                np.stack([idx for idx, _ in lists]),
                                np.stack([shifts for _, shifts in lists]),
                                energy, out["forces"], out["stress"], has_stress))
    return buckets


def batches(buckets: list[Labelled], batch_size: int, rng: np.random.Generator | None) -> Iterator[Labelled]:
    """Batches of `batch_size` from one bucket at a time (shuffled if `rng`); the last batch of a bucket
    is filled up with repeats so every batch has the same shape (repeats get zero weight)."""
    order = []
    for b, bucket in enumerate(buckets):
        rows = rng.permutation(len(bucket)) if rng is not None else np.arange(len(bucket))
        order += [(b, rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    if rng is not None:
        order = [order[i] for i in rng.permutation(len(order))]
    for b, rows in order:
        weight = np.zeros(batch_size)
        weight[: len(rows)] = 1.0
        padded = np.concatenate([rows, np.repeat(rows[:1], batch_size - len(rows))])
        yield buckets[b].take(padded), weight
