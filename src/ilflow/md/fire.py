"""FIRE relaxation (Bitzek et al., PRL 97, 170201 (2006)) with the semi-implicit Euler step of FIRE 2.0
(Guenole et al., Comput. Mater. Sci. 175, 109584 (2020)), as an integrator of the runner: positions, and
optionally the volume (isotropic strain as one more coordinate, scaled by N like ASE's cell filters), toward
the target pressure. Unit masses; the run stops when the largest force falls below `fmax_eV_A`
(stop reason "converged", see `Checks.converged_fmax_eV_A`).
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ilflow import units
from ilflow.md.integrators import _evaluate, initial_state
from ilflow.md.state import Control, MDState


class FireState(NamedTuple):
    dt: jax.Array  # ASE time
    alpha: jax.Array
    positive_steps: jax.Array
    strain_velocity: jax.Array  # of the scaled strain coordinate (cell relaxation)


@dataclass(frozen=True)
class FIRE:
    timestep_fs: float = 1.0  # starting step
    max_timestep_fs: float = 10.0
    relax_cell: bool = False  # also the volume, toward Control.pressure_bar
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    alpha_start: float = 0.1
    f_alpha: float = 0.99

    def init(self, system, masses, key, temperature_K, force, aux):
        extra = FireState(jnp.asarray(self.timestep_fs * units.FS), jnp.asarray(self.alpha_start), jnp.asarray(0),
                          jnp.zeros(()))
        state, aux = initial_state(system, masses, key, 0.0, force, aux, extra)
        return state._replace(momenta=jnp.zeros_like(state.momenta)), aux

    def _strain_force(self, state: MDState, control: Control):
        """-dH/d(eps) / N for H = E + P V under the isotropic strain exp(eps) (eV), eps scaled by N."""
        volume = jnp.abs(jnp.linalg.det(state.system.cell))
        n = jnp.sum(state.system.mask)
        return -(volume * jnp.trace(state.evaluation.stress) + 3.0 * volume * control.pressure_bar * units.BAR_EV_A3) / n

    def step(self, state: MDState, control: Control, force, aux):
        fire: FireState = state.thermostat
        mask = state.system.mask[:, None]
        f = jnp.where(mask, state.evaluation.forces, 0.0)
        v = state.momenta
        fs = self._strain_force(state, control) if self.relax_cell else jnp.zeros(())
        vs = fire.strain_velocity
        # semi-implicit Euler: velocities first, then the FIRE mixing, then positions
        v = v + fire.dt * f
        vs = vs + fire.dt * fs
        power = jnp.sum(f * v) + fs * vs
        v_norm = jnp.sqrt(jnp.sum(v**2) + vs**2)
        f_norm = jnp.sqrt(jnp.sum(f**2) + fs**2)
        mix = fire.alpha * v_norm / jnp.where(f_norm > 0, f_norm, 1.0)
        downhill = power > 0
        v = jnp.where(downhill, (1.0 - fire.alpha) * v + mix * f, 0.0)
        vs = jnp.where(downhill, (1.0 - fire.alpha) * vs + mix * fs, 0.0)
        grow = downhill & (fire.positive_steps > self.n_min)
        dt = jnp.where(grow, jnp.minimum(fire.dt * self.f_inc, self.max_timestep_fs * units.FS),
                       jnp.where(downhill, fire.dt, fire.dt * self.f_dec))
        alpha = jnp.where(grow, fire.alpha * self.f_alpha, jnp.where(downhill, fire.alpha, self.alpha_start))
        count = jnp.where(downhill, fire.positive_steps + 1, 0)
        system = state.system._replace(positions=state.system.positions + dt * v)
        if self.relax_cell:  # eps scaled by N: the real strain step is dt vs / N
            scale = jnp.exp(dt * vs / jnp.sum(state.system.mask))
            system = system._replace(positions=system.positions * scale, cell=system.cell * scale)
        state = state._replace(system=system, momenta=jnp.where(mask, v, 0.0),
                               thermostat=FireState(dt, alpha, count, vs))
        state, aux = _evaluate(state, force, aux)
        return state._replace(step=state.step + 1), aux

    def conserved(self, state: MDState, control: Control):
        """The enthalpy being minimised (eV): E, plus P V with the cell relaxed."""
        volume = jnp.abs(jnp.linalg.det(state.system.cell))
        return state.evaluation.energy + (control.pressure_bar * units.BAR_EV_A3 * volume if self.relax_cell else 0.0)
