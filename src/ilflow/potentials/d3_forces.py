"""D3(BJ) energy, forces and stress with the gradient written out, for the two-body term (the MD hot path).

Autodiff of `d3.d3_energy` is exact but on CPU it stores and re-reads every per-pair intermediate of the
(atoms, slots) arrays (a 20 Å half list holds ~2,500 slots per atom) and selects masked entries forward and
backward. The gradient has a simple structure that needs three streaming passes over the pairs instead:

  1. coordination numbers: CN_i = sum_j c(r_ij);
  2. energy and dE/dCN: E = -sum_pairs C6_ij(CN_i, CN_j) g(r_ij), dE/dCN_i = -sum_j g(r_ij) dC6_ij/dCN_i;
  3. forces and virial from dE/dr_ij = -C6_ij g'(r_ij) + (dE/dCN_i + dE/dCN_j) c'(r_ij) along each pair vector.

The per-atom steps (reference weights L(CN), C6 of all atom pairs, the homogeneous tail) are small and use
autodiff. Pair vectors are kept as separate x, y, z arrays (XLA on CPU vectorises those, not an interleaved
(..., 3) layout). `d3_energy_forces_stress` takes this path when there is no three-body term and falls back to
autodiff of `d3_energy` otherwise; tests check both against simple-dftd3 and against each other.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow import units
from ilflow.potentials.d3 import (BLOCK_ATOMS, D3Config, D3Neighbors, d3_energy, pair_c6, reference_weights,
                                  switch_and_slope, tail_energy)
from ilflow.potentials.forces import Results, energy_forces_stress, strained
from ilflow.potentials.system import Neighbors, System

# Centre atoms per block of the pair passes on a CPU: a block's (atoms, slots) arrays then stay in the core's cache
# (32 x 3,500 float64 slots = 0.9 MB). Measured, 240 and 960 atoms of BMIM-BF4, 23 Å half list: blocks of
# 16-64 atoms 1.5-2x faster than one block of all atoms. A GPU wants few large blocks (BLOCK_ATOMS).
CPU_BLOCK_ATOMS = 32


class _Pairs(NamedTuple):
    """Pairs of a block of centre atoms, atomic units: components (B, K) each, distance, validity, indices."""

    dx: jax.Array
    dy: jax.Array
    dz: jax.Array
    r: jax.Array  # bohr; 1.0 in empty slots (masked by `valid`)
    valid: jax.Array
    centre: jax.Array  # (B,)
    j: jax.Array  # (B, K)


def _pairs(system: System, neighbors: Neighbors, rows: jax.Array) -> _Pairs:
    n = system.positions.shape[0]
    centre = jnp.minimum(rows, n - 1)
    idx = neighbors.idx[centre]
    shifts = neighbors.shifts[centre]
    j = jnp.minimum(idx, n - 1)
    valid = (idx < n) & (system.mask[centre] & (rows < n))[:, None] & system.mask[j]
    pos, cell = system.positions / units.BOHR_A, system.cell / units.BOHR_A
    d = [pos[j, a] - pos[centre, a][:, None]
         + shifts[..., 0] * cell[0, a] + shifts[..., 1] * cell[1, a] + shifts[..., 2] * cell[2, a] for a in range(3)]
    r = jnp.sqrt(jnp.where(valid, d[0] ** 2 + d[1] ** 2 + d[2] ** 2, 1.0))
    return _Pairs(*d, r, valid, centre, j)


def _count(tables, config: D3Config, species, p: _Pairs):
    """Coordination-number count c(r) of each pair and dc/dr (1/bohr), zero outside the CN cutoff."""
    rc = tables["rcov"][species[p.centre]][:, None] + tables["rcov"][species[p.j]]
    inside = p.valid & (p.r <= config.cn_cutoff_A / units.BOHR_A)
    e = jnp.exp(-16.0 * (rc / p.r - 1.0))
    c = 1.0 / (1.0 + e)
    dc = -16.0 * rc / p.r**2 * e * c**2
    sw, dsw = switch_and_slope(p.r, config.cn_cutoff_A, config.cn_switch_width_A)
    return jnp.where(inside, c * sw, 0.0), jnp.where(inside, dc * sw + c * dsw, 0.0)


def _damped(tables, config: D3Config, species, p: _Pairs):
    """g(r) = s6 / (r^6 + R0^6) + s8 Q / (r^8 + R0^8) times the switch, and dg/dr; zero beyond the cutoff."""
    si, sj = species[p.centre][:, None], species[p.j]
    q_table = 3.0 * tables["r4r2"][:, None] * tables["r4r2"][None, :]
    r0_table = config.a1 * jnp.sqrt(q_table) + config.a2_bohr
    q, r0 = q_table[si, sj], r0_table[si, sj]
    r2 = p.r**2
    r6, r0_6 = r2**3, r0**6
    d6, d8 = r6 + r0_6, r6 * r2 + r0_6 * r0**2
    g = config.s6 / d6 + config.s8 * q / d8
    dg = -6.0 * config.s6 * r6 / (p.r * d6**2) - 8.0 * config.s8 * q * r6 * p.r / d8**2
    sw, dsw = switch_and_slope(p.r, config.cutoff_A, config.switch_width_A)
    inside = p.valid & (p.r <= config.cutoff_A / units.BOHR_A)
    return jnp.where(inside, g * sw, 0.0), jnp.where(inside, dg * sw + g * dsw, 0.0)


def _onto_atoms(n: int, p: _Pairs, on_centre, on_neighbour):
    """Per-pair values (B, K, C) summed onto the centre atoms and the neighbours of the pairs: (N, C). One
    scatter for all channels (a scatter costs per index, hardly per channel)."""
    return jnp.zeros((n, on_centre.shape[-1]), on_centre.dtype).at[p.centre].add(jnp.sum(on_centre, axis=1)) \
        .at[p.j].add(on_neighbour)


def _over_blocks(fn, n: int, size: int):
    """Sum of the pytree fn(rows) over blocks of `size` centre atoms (one block when n <= size)."""
    if n <= size:
        return fn(jnp.arange(n))
    rows = jnp.arange(-(-n // size) * size).reshape(-1, size)
    return jax.tree.map(lambda x: jnp.sum(x, axis=0), jax.lax.map(fn, rows))


def d3_two_body_forces(tables: dict, config: D3Config, system: System, neighbors: Neighbors,
                       block_atoms: int | None = None, cn_neighbors: Neighbors | None = None) -> Results:
    """Two-body D3(BJ) (and its tail correction) with the gradient written out; `neighbors` is a half list, and
    `cn_neighbors` an optional shorter half list within the CN cutoff for the two coordination-number passes.
    The passes run over blocks of `block_atoms` centre atoms (default: CPU_BLOCK_ATOMS on a CPU, else BLOCK_ATOMS)."""
    n = system.positions.shape[0]
    if block_atoms is None:
        block_atoms = CPU_BLOCK_ATOMS if jax.default_backend() == "cpu" else BLOCK_ATOMS
    species = system.species

    def pairs_over(nb: Neighbors):
        if n <= block_atoms:  # one block: the pair geometry is computed once for all passes over this list
            everything = _pairs(system, nb, jnp.arange(n))
            return lambda rows: everything
        return lambda rows: _pairs(system, nb, rows)

    pairs_of = pairs_over(neighbors)
    cn_pairs_of = pairs_of if cn_neighbors is None else pairs_over(cn_neighbors)

    def cn_block(rows):
        p = cn_pairs_of(rows)
        count = _count(tables, config, species, p)[0][..., None]
        return _onto_atoms(n, p, count, count)[:, 0]

    cn = _over_blocks(cn_block, n, block_atoms)
    weights, dweights = jax.jvp(lambda c: reference_weights(tables, species, c), (cn,), (jnp.ones_like(cn),))
    c6_of = pair_c6(tables, species, weights, dweights)

    def energy_block(rows):  # energy, dE/dCN, and the force along each pair at fixed coordination numbers
        p = pairs_of(rows)
        g, dg = _damped(tables, config, species, p)
        c6, dc6_i, dc6_j = c6_of(p.centre, p.j)
        along = -c6 * dg / p.r
        # channels: -dE/dCN, then dE/dR
        per_atom = _onto_atoms(n, p, jnp.stack([g * dc6_i, -along * p.dx, -along * p.dy, -along * p.dz], -1),
                               jnp.stack([g * dc6_j, along * p.dx, along * p.dy, along * p.dz], -1))
        return -jnp.sum(c6 * g), -per_atom[:, 0], per_atom[:, 1:], _virial(p, along)

    energy, de_dcn, grad, virial = _over_blocks(energy_block, n, block_atoms)
    tail_virial = jnp.zeros((3, 3), energy.dtype)
    if config.tail_correction:
        def tail(c, strain):
            return tail_energy(tables, config, strained(system, strain), reference_weights(tables, species, c))

        e_tail, (de_tail_dcn, tail_virial) = jax.value_and_grad(tail, argnums=(0, 1))(cn, tail_virial)
        energy, de_dcn = energy + e_tail, de_dcn + de_tail_dcn

    def cn_force_block(rows):  # the force through the coordination numbers
        p = cn_pairs_of(rows)
        _, dc = _count(tables, config, species, p)
        along = (de_dcn[p.centre][:, None] + de_dcn[p.j]) * dc / p.r
        vectors = jnp.stack([along * p.dx, along * p.dy, along * p.dz], -1)
        return _onto_atoms(n, p, -vectors, vectors), _virial(p, along)

    grad_cn, virial_cn = _over_blocks(cn_force_block, n, block_atoms)
    grad, virial = grad + grad_cn, virial + virial_cn
    volume = jnp.abs(jnp.linalg.det(system.cell))
    stress = (virial * units.HARTREE_EV + tail_virial * units.HARTREE_EV) / jnp.where(volume > 0, volume, 1.0)
    forces = jnp.where(system.mask[:, None], -grad * units.HARTREE_EV / units.BOHR_A, 0.0)
    return Results(energy * units.HARTREE_EV, forces, jnp.where(volume > 0, stress, 0.0))


def _virial(p: _Pairs, along):
    """sum_pairs (dE/dr) r_a r_b / r (3, 3) from along = (dE/dr) / r of each pair (six sums: it is symmetric)."""
    xx, yy, zz = (jnp.sum(along * d * d) for d in (p.dx, p.dy, p.dz))
    xy, xz, yz = jnp.sum(along * p.dx * p.dy), jnp.sum(along * p.dx * p.dz), jnp.sum(along * p.dy * p.dz)
    return jnp.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def d3_energy_forces_stress(tables: dict, config: D3Config, system: System, neighbors: D3Neighbors) -> Results:
    """Energy (eV), forces (eV/Å) and stress (eV/Å^3) of D3(BJ): the written-out gradient without a three-body term,
    autodiff of `d3_energy` with one."""
    if config.s9:
        return energy_forces_stress(lambda q, s, nb: d3_energy(q, config, s, nb), tables, system, neighbors)
    return d3_two_body_forces(tables, config, system, neighbors.pairs, cn_neighbors=neighbors.cn)
