"""Schedules of the targets along a run and the rigid box modifier (paper eqn 9), pure functions of the step s
of N (p = s / N):

  T(s) = T0 + p (T1 - T0) + A sin(2 pi n p)
  L(s) = L0 + min(p n / n_ramp, 1) (L1 - L0) + A sin(2 pi n p)     (box edge; n_ramp oscillations to finish)
  P(s) = P0 + p (P1 - P0)

The box is set to L(s) before every step by scaling molecules rigidly about their centres of mass.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import units
from ilflow.md.state import Control, MDState


@dataclass(frozen=True)
class TemperatureRamp:
    start_K: float
    end_K: float
    amplitude_K: float = 0.0
    oscillations: float = 0.0
    steps: int = 1

    def __call__(self, step):
        p = step / self.steps
        return self.start_K + p * (self.end_K - self.start_K) + self.amplitude_K * jnp.sin(2 * jnp.pi * self.oscillations * p)


@dataclass(frozen=True)
class EdgeRamp:
    """Box edge (cube root of the volume for non-cubic cells) along the run, Å."""

    start_A: float
    end_A: float
    amplitude_A: float = 0.0
    oscillations: float = 0.0
    ramp_oscillations: float | None = None  # the ramp is complete after this many oscillations (None: at the end)
    steps: int = 1

    def __call__(self, step):
        p = step / self.steps
        done = p if not self.ramp_oscillations or not self.oscillations else \
            jnp.minimum(p * self.oscillations / self.ramp_oscillations, 1.0)
        return (self.start_A + done * (self.end_A - self.start_A)
                + self.amplitude_A * jnp.sin(2 * jnp.pi * self.oscillations * p))

    @classmethod
    def to_density(cls, atoms, density_g_cm3: float, steps: int) -> "EdgeRamp":
        """A linear rescale from the structure's density to `density_g_cm3` over `steps`."""
        mass = float(np.sum(atoms.get_masses()))
        return cls(float(atoms.get_volume() ** (1 / 3)), units.volume_A3_for_density(mass, density_g_cm3) ** (1 / 3),
                   steps=steps)


@dataclass(frozen=True)
class PressureRamp:
    start_bar: float
    end_bar: float
    steps: int = 1

    def __call__(self, step):
        return self.start_bar + step / self.steps * (self.end_bar - self.start_bar)


@dataclass(frozen=True)
class Schedule:
    """Control of each step: constant targets or ramps, and optionally a box-edge ramp."""

    temperature_K: float = 300.0
    pressure_bar: float = 1.0
    temperature_ramp: TemperatureRamp | None = None
    pressure_ramp: PressureRamp | None = None
    edge_ramp: EdgeRamp | None = None

    def __call__(self, step) -> Control:
        t = self.temperature_ramp(step) if self.temperature_ramp else self.temperature_K
        p = self.pressure_ramp(step) if self.pressure_ramp else self.pressure_bar
        return Control(jnp.asarray(t, float), jnp.asarray(p, float))


def scale_molecules_rigidly(state: MDState, edge_A, molecule_ids: jax.Array, n_molecules: int) -> MDState:
    """Cell scaled so that V^(1/3) = edge_A; every molecule translated with its centre of mass (shape kept).
    Positions must hold whole (unwrapped) molecules; padding atoms carry any id and stay masked."""
    system = state.system
    factor = edge_A / jnp.abs(jnp.linalg.det(system.cell)) ** (1.0 / 3.0)
    m = jnp.where(system.mask, state.masses, 0.0)
    total = jax.ops.segment_sum(m, molecule_ids, n_molecules)
    com = jax.ops.segment_sum(m[:, None] * system.positions, molecule_ids, n_molecules)
    com = com / jnp.where(total > 0, total, 1.0)[:, None]
    shift = (factor - 1.0) * com[molecule_ids]
    return state._replace(system=system._replace(positions=system.positions + shift, cell=system.cell * factor))


def schedule_from(modifiers, atoms, steps: int, temperature_K: float, pressure_bar: float = 1.0) -> Schedule:
    """The Schedule of a run of `steps` from a `config.modifiers.Modifiers` section (or None: constant targets);
    a box ramp starts at the structure's box and ends at its edge or density."""
    if modifiers is None:
        return Schedule(temperature_K, pressure_bar)
    t, b, p = modifiers.temperature_ramp, modifiers.box_ramp, modifiers.pressure_ramp
    edge = None
    if b is not None:
        mass = float(np.sum(atoms.get_masses()))
        end = b.end_edge_A or units.volume_A3_for_density(mass, b.end_density_g_cm3) ** (1 / 3)
        edge = EdgeRamp(float(atoms.get_volume() ** (1 / 3)), float(end), b.amplitude_A, b.oscillations,
                        b.ramp_oscillations, steps)
    return Schedule(
        temperature_K if t is None else t.start_K, pressure_bar if p is None else p.start_bar,
        None if t is None else TemperatureRamp(t.start_K, t.end_K, t.amplitude_K, t.oscillations, steps),
        None if p is None else PressureRamp(p.start_bar, p.end_bar, steps), edge)
