"""Isothermal-isobaric MD: MTK barostat (Martyna, Tobias & Klein 1994) with Nose-Hoover chains on the
particles and on the barostat, in the measure-preserving splitting of Tuckerman et al., J. Phys. A 39, 5629
(2006).

isotropic: one strain rate v = p_eps / W scales positions and cell by exp(v t);
  G = (1 + 3/f) 2K - V tr(sigma) - 3 V P_ext,  W = (f + 3) kT tau_b^2
orthorhombic: three rates v_k = p_k / W scale the Cartesian axes independently (the edges of an orthorhombic box);
  G_k = sum_i p_ik^2 / m_i - V sigma_kk - V P_ext + 2K / f,  W = (f + 3) kT tau_b^2 / 3
particles feel -(v_k + sum_l v_l / f) p_k (isotropic: -(1 + 3/f) v p); sigma is the ASE-sign stress of the
potential, f = 3N - 3.  Conserved: U + K + sum p^2 / 2W + P_ext V + chain energies.
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow import units
from ilflow.md.chains import Chain, chain_energy, half_chain_step, new_chain
from ilflow.md.integrators import _evaluate, initial_state
from ilflow.md.state import Control, MDState, degrees_of_freedom, kinetic_energy


class Barostat(NamedTuple):
    particles: Chain
    barostat: Chain
    momentum: jax.Array  # p_eps (isotropic, scalar) or (3,) (orthorhombic), eV ASE-time


def _sinhc(x):
    small = jnp.abs(x) < 1e-4
    safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 + x**2 / 6.0 + x**4 / 120.0, jnp.sinh(safe) / safe)


@dataclass(frozen=True)
class MTKNPT:
    """MTK NPT: thermostat tau_fs, barostat tau_barostat_fs, `coupling` isotropic or orthorhombic."""

    timestep_fs: float
    tau_fs: float = 100.0
    tau_barostat_fs: float = 1000.0
    chain_length: int = 3
    sy_order: int = 3
    coupling: str = "isotropic"

    def __post_init__(self):
        if self.coupling not in ("isotropic", "orthorhombic"):
            raise ValueError(f"coupling {self.coupling!r}: isotropic or orthorhombic")

    @property
    def _dims(self) -> int:
        return 1 if self.coupling == "isotropic" else 3

    def _w(self, ndof, kt):
        return (ndof + 3.0) * kt * (self.tau_barostat_fs * units.FS) ** 2 / self._dims

    def init(self, system, masses, key, temperature_K, force, aux):
        kt = units.KB_EV_K * temperature_K
        ndof = degrees_of_freedom(system.mask)
        extra = Barostat(new_chain(self.chain_length, ndof, kt, self.tau_fs * units.FS),
                         new_chain(self.chain_length, float(self._dims), kt, self.tau_barostat_fs * units.FS),
                         jnp.zeros(()) if self._dims == 1 else jnp.zeros(3))
        return initial_state(system, masses, key, temperature_K, force, aux, extra)

    def _chains(self, state: MDState, kt, dt):
        extra: Barostat = state.thermostat
        ndof = degrees_of_freedom(state.system.mask)
        w = self._w(ndof, kt)
        baro, s_b = half_chain_step(extra.barostat, jnp.sum(extra.momentum**2) / w, float(self._dims), kt,
                                    self.tau_barostat_fs * units.FS, dt, self.sy_order)
        ke2 = 2.0 * kinetic_energy(state.momenta, state.masses, state.system.mask)
        part, s_p = half_chain_step(extra.particles, ke2, ndof, kt, self.tau_fs * units.FS, dt, self.sy_order)
        return state._replace(momenta=state.momenta * s_p, thermostat=Barostat(part, baro, extra.momentum * s_b))

    def _kick_barostat(self, state: MDState, control: Control, dt):
        extra: Barostat = state.thermostat
        ndof = degrees_of_freedom(state.system.mask)
        volume = jnp.abs(jnp.linalg.det(state.system.cell))
        ke2 = 2.0 * kinetic_energy(state.momenta, state.masses, state.system.mask)
        p_ext = control.pressure_bar * units.BAR_EV_A3
        if self._dims == 1:
            g = (1.0 + 3.0 / ndof) * ke2 - volume * jnp.trace(state.evaluation.kick_stress) - 3.0 * volume * p_ext
        else:
            per_axis = jnp.sum(jnp.where(state.system.mask[:, None], state.momenta**2 / state.masses[:, None], 0.0), 0)
            g = per_axis - volume * jnp.diagonal(state.evaluation.kick_stress) - volume * p_ext + ke2 / ndof
        return state._replace(thermostat=extra._replace(momentum=extra.momentum + 0.5 * dt * g))

    def _kick_particles(self, state: MDState, v_eps, dt):
        """p over dt/2 under F - (v_k + sum v / f) p_k (exact for constant rates)."""
        ndof = degrees_of_freedom(state.system.mask)
        rate = (1.0 + 3.0 / ndof) * v_eps if self._dims == 1 else v_eps + jnp.sum(v_eps) / ndof
        x = 0.25 * rate * dt
        p = state.momenta * jnp.exp(-2.0 * x) + 0.5 * dt * state.evaluation.kick_forces * jnp.exp(-x) * _sinhc(x)
        return state._replace(momenta=jnp.where(state.system.mask[:, None], p, 0.0))

    def step(self, state: MDState, control: Control, force, aux):
        dt = self.timestep_fs * units.FS
        kt = units.KB_EV_K * control.temperature_K
        ndof = degrees_of_freedom(state.system.mask)
        state = self._kick_barostat(self._chains(state, kt, dt), control, dt)
        v_eps = state.thermostat.momentum / self._w(ndof, kt)
        state = self._kick_particles(state, v_eps, dt)
        x = 0.5 * v_eps * dt
        positions = (state.system.positions * jnp.exp(2.0 * x)
                     + dt * state.momenta / state.masses[:, None] * jnp.exp(x) * _sinhc(x))
        system = state.system._replace(positions=positions, cell=state.system.cell * jnp.exp(2.0 * x))  # columns: axes
        state, aux = _evaluate(state._replace(system=system), force, aux)
        state = self._kick_particles(state, v_eps, dt)
        state = self._chains(self._kick_barostat(state, control, dt), kt, dt)
        return state._replace(step=state.step + 1), aux

    def conserved(self, state: MDState, control: Control):
        extra: Barostat = state.thermostat
        kt = units.KB_EV_K * control.temperature_K
        ndof = degrees_of_freedom(state.system.mask)
        volume = jnp.abs(jnp.linalg.det(state.system.cell))
        return (state.evaluation.energy + kinetic_energy(state.momenta, state.masses, state.system.mask)
                + jnp.sum(extra.momentum**2) / (2.0 * self._w(ndof, kt)) + control.pressure_bar * units.BAR_EV_A3 * volume
                + chain_energy(extra.particles, ndof, kt) + chain_energy(extra.barostat, float(self._dims), kt))
