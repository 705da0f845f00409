"""The jitted cell-list neighbour list equals ASE's list in any cell; overflow is flagged, not hidden."""

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.build import make_supercell
from ase.neighborlist import neighbor_list

from ilflow.potentials.neighbors import (NeighborSpec, allocate, build_neighbors, count_neighbors, host_neighbors,
                                        keeps_half)
from ilflow.potentials.system import make_system

def _pairs_ase(atoms, cutoff):
    i, j, S = neighbor_list("ijS", atoms, cutoff, self_interaction=False)
    return {(int(a), int(b), *map(int, s)) for a, b, s in zip(i, j, S)}


def _pairs(neighbors, n):
    idx, shifts = np.asarray(neighbors.idx), np.rint(np.asarray(neighbors.shifts)).astype(int)
    rows, slots = np.nonzero(idx < n)
    return {(int(i), int(idx[i, k]), *shifts[i, k]) for i, k in zip(rows, slots)}


def _random_atoms(cell, n, seed):
    rng = np.random.default_rng(seed)
    return Atoms([6] * n, scaled_positions=rng.random((n, 3)) * 1.2 - 0.1, cell=cell, pbc=True)  # some outside


@pytest.mark.parametrize("cell,n", [
    (np.diag([14.6, 14.6, 14.6]), 300),                          # liquid box, 2 bins per direction
    (np.array([[4.0, 0, 0], [1.5, 3.8, 0], [-1.0, 0.9, 4.2]]), 6),  # far smaller than the cutoff: reach > 1
    (np.array([[20.0, 0, 0], [6.0, 18.0, 0], [-3.0, 4.0, 21.0]]), 700),  # triclinic, several bins
])
def test_cell_list_equals_ase(cell, n):
    atoms = _random_atoms(cell, n, seed=n)
    system = make_system(atoms, (6,))
    spec = allocate(system, 6.0)
    neighbors, overflow = build_neighbors(system, spec)
    assert not bool(overflow)
    assert _pairs(neighbors, n) == _pairs_ase(atoms, 6.0)


@pytest.mark.parametrize("cell,n,cutoff", [
    (np.diag([14.6, 14.6, 14.6]), 300, 6.0),
    (np.array([[4.0, 0, 0], [1.5, 3.8, 0], [-1.0, 0.9, 4.2]]), 6, 6.0),
    (np.array([[11.0, 0, 0], [2.0, 10.5, 0], [-1.0, 1.5, 11.5]]), 120, 26.46),  # D3's 50 bohr over ~3 images
])
def test_host_list_of_a_periodic_cell_equals_ase(cell, n, cutoff):
    """host_neighbors loops over images itself for periodic cells (ASE is 40x slower at 26 Å)."""
    atoms = _random_atoms(cell, n, seed=n)
    assert _pairs(host_neighbors(atoms, cutoff), n) == _pairs_ase(atoms, cutoff)


@pytest.mark.parametrize("cell,n,cutoff", [
    (np.diag([14.6, 14.6, 14.6]), 300, 9.0),
    (np.array([[4.0, 0, 0], [1.5, 3.8, 0], [-1.0, 0.9, 4.2]]), 7, 9.0),  # own images kept once each
])
def test_half_list_holds_every_pair_once(cell, n, cutoff):
    atoms = _random_atoms(cell, n, seed=n)
    system = make_system(atoms, (6,), n_pad=n + 3)
    spec = allocate(system, cutoff, half=True)
    neighbors, overflow = build_neighbors(system, spec)
    assert not bool(overflow) and spec.half
    half = _pairs(neighbors, n + 3)
    mirrored = {(j, i, -a, -b, -c) for i, j, a, b, c in half}
    assert not half & mirrored  # never both entries of a pair
    assert half | mirrored == _pairs_ase(atoms, cutoff)  # and together every pair of ASE's full list
    rows = np.bincount([p[0] for p in half], minlength=n)
    assert rows.max() < 0.75 * np.bincount([p[0] for p in _pairs_ase(atoms, cutoff)]).max()  # balanced rows
    assert _pairs(host_neighbors(atoms, cutoff, n_pad=n + 3, half=True), n + 3) == half  # the host list is the same


def test_padding_atoms_are_never_neighbours():
    atoms = _random_atoms(np.diag([12.0, 12.0, 12.0]), 100, seed=3)
    system = make_system(atoms, (6,), n_pad=130)
    neighbors, overflow = build_neighbors(system, allocate(system, 5.0))
    assert not bool(overflow)
    assert _pairs(neighbors, 130) == _pairs_ase(atoms, 5.0)
    assert np.all(np.asarray(neighbors.idx)[100:] == 130)


def test_overflow_is_flagged():
    atoms = _random_atoms(np.diag([12.0, 12.0, 12.0]), 200, seed=5)
    system = make_system(atoms, (6,))
    spec = allocate(system, 5.0)
    assert bool(build_neighbors(system, spec._replace(capacity=5))[1])  # too few neighbour slots
    assert bool(build_neighbors(system, spec._replace(bin_capacity=2))[1])  # too few atoms per bin
    shrunk = system._replace(cell=system.cell * 0.8, positions=system.positions * 0.8)
    assert bool(build_neighbors(shrunk, spec)[1])  # bins no longer cover the cutoff
    assert isinstance(spec, NeighborSpec)


def test_supercell_lists_are_consistent():
    atoms = _random_atoms(np.array([[4.0, 0, 0], [1.5, 3.8, 0], [-1.0, 0.9, 4.2]]), 5, seed=9)
    big = make_supercell(atoms, np.diag([3, 3, 3]))
    system = make_system(big, (6,))
    neighbors, overflow = build_neighbors(system, allocate(system, 5.5))
    assert not bool(overflow) and _pairs(neighbors, len(big)) == _pairs_ase(big, 5.5)


@pytest.mark.parametrize("half", [False, True])
def test_counts_that_size_the_lists_equal_ase(half):
    """`count_neighbors` (what `allocate` sizes lists from) gives each atom's row length of ASE's list, full or half,
    within the cutoff and within a trim radius; padding atoms count nothing."""
    cell = np.array([[11.0, 0, 0], [2.0, 10.5, 0], [-1.0, 1.5, 11.5]])
    atoms = _random_atoms(cell, 120, seed=5)
    system = make_system(atoms, (6,), n_pad=125)
    spec = allocate(system, 14.0, half=half)
    counts, trimmed, overflow = count_neighbors(system, spec, 9.0)
    i, j, S, d = neighbor_list("ijSd", atoms, 14.0, self_interaction=False)
    if half:
        keep = keeps_half(i, j, S)
        i, d = i[keep], d[keep]
    assert not bool(overflow)
    np.testing.assert_array_equal(np.asarray(counts), np.bincount(i, minlength=125))
    np.testing.assert_array_equal(np.asarray(trimmed), np.bincount(i[d < 9.0], minlength=125))


def test_trimmed_list_holds_the_pairs_within_the_cutoff_after_atoms_moved():
    """A list built at 6.5 Å, atoms then moved by up to 0.2 Å: trimming to 6.0 Å gives ASE's 6.0 Å list of the
    new positions; a capacity below the largest row is flagged."""
    from ilflow.potentials.neighbors import trim_neighbors

    cell = np.array([[20.0, 0, 0], [6.0, 18.0, 0], [-3.0, 4.0, 21.0]])
    atoms = _random_atoms(cell, 500, seed=11)
    system = make_system(atoms, (6,), n_pad=504)
    spec = allocate(system, 6.5, trim_cutoff_A=6.0)
    neighbors, overflow = build_neighbors(system, spec)
    assert not bool(overflow) and spec.trim_capacity < spec.capacity
    moved = atoms.copy()
    moved.positions += np.random.default_rng(2).uniform(-0.2 / np.sqrt(3), 0.2 / np.sqrt(3), (500, 3))
    now = make_system(moved, (6,), n_pad=504)
    trimmed, overflow = jax.jit(trim_neighbors, static_argnums=2)(now, neighbors, spec)
    assert not bool(overflow) and trimmed.idx.shape == (504, spec.trim_capacity)
    assert _pairs(trimmed, 504) == _pairs_ase(moved, 6.0)
    largest = np.bincount(neighbor_list("i", moved, 6.0)).max()
    _, overflow = trim_neighbors(now, neighbors, spec._replace(trim_capacity=int(largest) - 1))
    assert bool(overflow)


def test_a_box_shrinking_past_two_cutoffs_does_not_overflow_the_bins():
    """Bins allocated for a box just wider than 2 cutoffs stay valid when it shrinks by 1% (NPT, box ramps): before,
    reallocating from the same box chose the same too-large bins again and the MD runner looped forever."""
    cutoff = 5.5
    edge = 2 * cutoff + 0.05
    rng = np.random.default_rng(3)
    atoms = Atoms("Ar64", positions=rng.uniform(0, edge, (64, 3)), cell=np.eye(3) * edge, pbc=True)
    system = make_system(atoms, (18,))
    spec = allocate(system, cutoff, margin=1.2)
    shrunk = system._replace(positions=system.positions * 0.99, cell=system.cell * 0.99)
    neighbors, overflow = build_neighbors(shrunk, spec)
    assert not bool(overflow)
    small = atoms.copy()
    small.set_cell(atoms.cell * 0.99, scale_atoms=True)
    assert _pairs(neighbors, 64) == _pairs_ase(small, cutoff)
