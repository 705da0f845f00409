"""Ensembles: members' parameters stacked on a leading axis, evaluated in one vmapped call (paper eqn 8)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow.potentials.forces import EnergyFn, energy_forces_stress
from ilflow.potentials.system import Neighbors, System


class EnsembleResults(NamedTuple):
    energy: jax.Array  # mean over members, eV
    forces: jax.Array  # (N, 3) mean, eV/Å
    stress: jax.Array  # (3, 3) mean, eV/Å^3
    energy_std: jax.Array  # eV
    forces_std: jax.Array  # (N, 3) eV/Å, per component
    stress_std: jax.Array  # (3, 3)
    force_uncertainty: jax.Array  # max over atoms and components of forces_std (eqn 8), eV/Å


def ensemble_forces(energy_fn: EnergyFn, params: dict, system: System, neighbors: Neighbors) -> EnsembleResults:
    """Mean and standard deviation over the members of energy, forces and stress."""
    members = jax.vmap(lambda p: energy_forces_stress(energy_fn, p, system, neighbors))(params)
    f_std = jnp.std(members.forces, axis=0)
    return EnsembleResults(jnp.mean(members.energy), jnp.mean(members.forces, axis=0), jnp.mean(members.stress, axis=0),
                           jnp.std(members.energy), f_std, jnp.std(members.stress, axis=0),
                           jnp.max(jnp.where(system.mask[:, None], f_std, 0.0)))
