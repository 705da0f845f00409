"""Integrators as init/step pairs over `MDState` (JAX-MD style), for any force field.

force(system, aux) -> (Evaluation, aux) evaluates the potential; `aux` (the neighbour lists) is threaded
through untouched by the integrators. Kicks apply `Evaluation.kick_forces` (under multiple time stepping, the
slow term's impulse included). Times are in ASE units (units.FS per fs).

- nve: velocity Verlet.
- langevin: BAOAB splitting (Leimkuhler & Matthews 2013), friction in 1/ps.
- nose_hoover: Nose-Hoover chain (Martyna, Klein & Tuckerman 1992; Martyna et al. 1996) with Suzuki-Yoshida
  factorisation of the chain propagator; conserved quantity includes the chain's energy.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ilflow import units
from ilflow.md.chains import chain_energy, half_chain_step, new_chain
from ilflow.md.state import (Control, MDState, degrees_of_freedom, kinetic_energy, maxwell_boltzmann,
                             remove_com_momentum)

def _kick(state: MDState, dt):
    return state._replace(momenta=jnp.where(state.system.mask[:, None],
                                            state.momenta + dt * state.evaluation.kick_forces, 0.0))


def _drift(state: MDState, dt):
    positions = state.system.positions + dt * state.momenta / state.masses[:, None]
    return state._replace(system=state.system._replace(positions=positions))


def _evaluate(state: MDState, force, aux):
    evaluation, aux = force(state.system, aux)
    return state._replace(evaluation=evaluation), aux


def initial_state(system, masses, key, temperature_K: float, force, aux, thermostat=()):
    """State at rest in the potential with Maxwell-Boltzmann momenta at `temperature_K`."""
    key, sub = jax.random.split(key)
    momenta = maxwell_boltzmann(sub, masses, system.mask, temperature_K)
    evaluation, aux = force(system, aux)
    return MDState(system, momenta, masses, evaluation, thermostat, key, jnp.asarray(0)), aux


class _NoExtendedVariables:
    """init and conserved energy (potential + kinetic) of integrators without thermostat variables."""

    def init(self, system, masses, key, temperature_K, force, aux):
        return initial_state(system, masses, key, temperature_K, force, aux)

    def conserved(self, state: MDState, control: Control):
        return state.evaluation.energy + kinetic_energy(state.momenta, state.masses, state.system.mask)


@dataclass(frozen=True)
class NVE(_NoExtendedVariables):
    """Velocity Verlet."""

    timestep_fs: float

    def step(self, state: MDState, control: Control, force, aux):
        dt = self.timestep_fs * units.FS
        state = _drift(_kick(state, 0.5 * dt), dt)
        state, aux = _evaluate(state, force, aux)
        return _kick(state, 0.5 * dt)._replace(step=state.step + 1), aux


@dataclass(frozen=True)
class Langevin(_NoExtendedVariables):
    """BAOAB Langevin dynamics; friction in 1/ps. The noise has no centre-of-mass part (its mass-weighted
    projection), so the total momentum stays zero and 3N - 3 degrees of freedom are thermalised.
    No conserved quantity (reports the total energy)."""

    timestep_fs: float
    friction_per_ps: float = 1.0

    def step(self, state: MDState, control: Control, force, aux):
        dt = self.timestep_fs * units.FS
        gamma = self.friction_per_ps / (1000.0 * units.FS)
        state = _drift(_kick(state, 0.5 * dt), 0.5 * dt)
        key, sub = jax.random.split(state.key)
        c1 = jnp.exp(-gamma * dt)
        kt = units.KB_EV_K * control.temperature_K
        noise = jax.random.normal(sub, state.momenta.shape) * jnp.sqrt(state.masses * kt)[:, None]
        noise = remove_com_momentum(noise, state.masses, state.system.mask)  # the centre of mass stays at rest
        momenta = jnp.where(state.system.mask[:, None], c1 * state.momenta + jnp.sqrt(1.0 - c1**2) * noise, 0.0)
        state = _drift(state._replace(momenta=momenta, key=key), 0.5 * dt)
        state, aux = _evaluate(state, force, aux)
        return _kick(state, 0.5 * dt)._replace(step=state.step + 1), aux


@dataclass(frozen=True)
class NoseHoover:
    """Nose-Hoover chain NVT: chain length, relaxation time tau (fs), Suzuki-Yoshida order (1, 3, 5)."""

    timestep_fs: float
    tau_fs: float = 100.0
    chain_length: int = 3
    sy_order: int = 3
    substeps: int = 1

    def init(self, system, masses, key, temperature_K, force, aux):
        kt = units.KB_EV_K * temperature_K
        chain = new_chain(self.chain_length, degrees_of_freedom(system.mask), kt, self.tau_fs * units.FS)
        return initial_state(system, masses, key, temperature_K, force, aux, chain)

    def _half_chain(self, state: MDState, kt, dt):
        ndof = degrees_of_freedom(state.system.mask)
        ke2 = 2.0 * kinetic_energy(state.momenta, state.masses, state.system.mask)
        chain, scale = half_chain_step(state.thermostat, ke2, ndof, kt, self.tau_fs * units.FS, dt, self.sy_order,
                                       self.substeps)
        return state._replace(momenta=state.momenta * scale, thermostat=chain)

    def step(self, state: MDState, control: Control, force, aux):
        dt = self.timestep_fs * units.FS
        kt = units.KB_EV_K * control.temperature_K
        state = self._half_chain(state, kt, dt)
        state = _drift(_kick(state, 0.5 * dt), dt)
        state, aux = _evaluate(state, force, aux)
        state = self._half_chain(_kick(state, 0.5 * dt), kt, dt)
        return state._replace(step=state.step + 1), aux

    def conserved(self, state: MDState, control: Control):
        """Extended energy (eV), conserved at constant target temperature."""
        kt = units.KB_EV_K * control.temperature_K
        return (state.evaluation.energy + kinetic_energy(state.momenta, state.masses, state.system.mask)
                + chain_energy(state.thermostat, degrees_of_freedom(state.system.mask), kt))
