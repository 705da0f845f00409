"""Schedules of the targets along a run (paper eqn 9), pure functions of the step s of N:

  T(s) = T0 + (s / N) (T1 - T0) + A sin(2 pi n s / N)
"""

from dataclasses import dataclass

import jax.numpy as jnp

from ilflow.md.state import Control


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
class Schedule:
    """Control of each step: constant targets, or a temperature ramp."""

    temperature_K: float = 300.0
    pressure_bar: float = 1.0
    temperature_ramp: TemperatureRamp | None = None

    def __call__(self, step) -> Control:
        t = self.temperature_ramp(step) if self.temperature_ramp else jnp.asarray(self.temperature_K, float)
        return Control(jnp.asarray(t, float), jnp.asarray(self.pressure_bar, float))
