"""The MD state pytree, the per-step control values, and kinetic helpers (eV, Å, amu; ASE time units)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ilflow import units
from ilflow.md.force_field import Evaluation
from ilflow.potentials.system import System


class Control(NamedTuple):
    """Targets of one step (modifiers change them along the run)."""

    temperature_K: jax.Array
    pressure_bar: jax.Array


class MDState(NamedTuple):
    system: System  # positions (Å), cell, species, mask
    momenta: jax.Array  # (N, 3) amu Å / ASE time
    masses: jax.Array  # (N,) amu (padding atoms: 1, masked)
    evaluation: Evaluation  # at the current positions
    thermostat: Any  # integrator-specific pytree, () if none
    key: jax.Array  # PRNG key
    step: jax.Array  # int


def degrees_of_freedom(mask: jax.Array) -> jax.Array:
    """3 N - 3 (the centre-of-mass momentum is removed at the start and conserved or thermalised around 0)."""
    return 3.0 * jnp.sum(mask) - 3.0


def kinetic_energy(momenta, masses, mask) -> jax.Array:
    """eV."""
    return 0.5 * jnp.sum(jnp.where(mask[:, None], momenta**2 / masses[:, None], 0.0))


def temperature_K(momenta, masses, mask) -> jax.Array:
    return 2.0 * kinetic_energy(momenta, masses, mask) / (degrees_of_freedom(mask) * units.KB_EV_K)


def pressure_bar(state: MDState) -> jax.Array:
    """Instantaneous pressure: kinetic + virial (ASE stress sign: P = -trace(sigma)/3 + 2 KE / 3V)."""
    volume = jnp.abs(jnp.linalg.det(state.system.cell))
    ke = kinetic_energy(state.momenta, state.masses, state.system.mask)
    return (-jnp.trace(state.evaluation.stress) / 3.0 + 2.0 * ke / (3.0 * volume)) / units.BAR_EV_A3


def pressure_tensor_eV_A3(state: MDState) -> jax.Array:
    """Instantaneous pressure tensor (3, 3) eV/Å^3: kinetic (sum p p^T / m) / V minus the stress (ASE sign); its
    trace / 3 is pressure_bar's pressure. Its traceless part gives the shear viscosity (ilflow.analysis.viscosity)."""
    volume = jnp.abs(jnp.linalg.det(state.system.cell))
    p = jnp.where(state.system.mask[:, None], state.momenta, 0.0)
    kinetic = jnp.einsum("ia,ib,i->ab", p, p, 1.0 / state.masses)
    return kinetic / volume - state.evaluation.stress


def maxwell_boltzmann(key, masses, mask, temperature: float) -> jax.Array:
    """Momenta at `temperature` (K): Gaussian, centre-of-mass momentum removed, scaled to the exact temperature."""
    kt = units.KB_EV_K * temperature
    p = jax.random.normal(key, (masses.shape[0], 3)) * jnp.sqrt(masses * kt)[:, None]
    p = jnp.where(mask[:, None], p, 0.0)
    p = remove_com_momentum(p, masses, mask)
    t_now = temperature_K(p, masses, mask)
    return jnp.where(t_now > 0, p * jnp.sqrt(temperature / jnp.where(t_now > 0, t_now, 1.0)), p)


def remove_com_momentum(momenta, masses, mask):
    total = jnp.sum(jnp.where(mask[:, None], momenta, 0.0), axis=0)
    m = jnp.where(mask, masses, 0.0)
    return jnp.where(mask[:, None], momenta - m[:, None] * total / jnp.sum(m), 0.0)
