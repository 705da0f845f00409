"""Energy, forces and stress of any potential with the common signature energy(params, system, neighbors).

Forces are -dE/dR and stress (1/V) dE/d(strain) from one backward pass: the symmetric strain deforms
positions and the cell, and so every periodic image (pair vectors are R_j - R_i + S @ cell).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow.potentials.system import Neighbors, System

EnergyFn = Callable[[dict, System, Neighbors], jax.Array]


class Results(NamedTuple):
    energy: jax.Array  # eV
    forces: jax.Array  # (N, 3) eV/Å
    stress: jax.Array  # (3, 3) eV/Å^3, ASE sign (zero for non-periodic systems)


def strained(system: System, strain: jax.Array) -> System:
    """The system under the symmetric deformation I + (strain + strain^T)/2."""
    deform = jnp.eye(3, dtype=system.positions.dtype) + 0.5 * (strain + strain.T)
    return system._replace(positions=system.positions @ deform, cell=system.cell @ deform)


def energy_forces_stress(energy_fn: EnergyFn, params: dict, system: System, neighbors: Neighbors) -> Results:
    """All three from one value_and_grad over (positions, strain)."""

    def e_of(positions, strain):
        return energy_fn(params, strained(system._replace(positions=positions), strain), neighbors)

    zero = jnp.zeros((3, 3), system.positions.dtype)
    e, (de_dr, de_deps) = jax.value_and_grad(e_of, argnums=(0, 1))(system.positions, zero)
    volume = jnp.abs(jnp.linalg.det(system.cell))
    stress = jnp.where(volume > 0, de_deps / jnp.where(volume > 0, volume, 1.0), 0.0)
    forces = jnp.where(system.mask[:, None], -de_dr, 0.0)
    return Results(e, forces, stress)


def voigt(stress: jax.Array) -> jax.Array:
    """(3, 3) -> ASE Voigt order xx, yy, zz, yz, xz, xy."""
    return jnp.stack([stress[..., 0, 0], stress[..., 1, 1], stress[..., 2, 2],
                      stress[..., 1, 2], stress[..., 0, 2], stress[..., 0, 1]], axis=-1)
