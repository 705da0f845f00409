"""Modifiers of an MD run (paper eqn 9): temperature, box-edge/density and pressure ramps.

Used by `ilflow md --modifiers FILE` and by the learning schedule's MD samplers. The ramp runs over the
whole run (its steps are the run's steps); the start values are the run's own (temperature, structure's box).
"""

from pydantic import model_validator

from ilflow.config.base import NonNegativeFloat, PositiveFloat, Section


class TemperatureRamp(Section):
    """T(s) = T0 + (s/N)(T1 - T0) + A sin(2 pi n s / N) (paper eqn 9)."""

    start_K: PositiveFloat
    end_K: PositiveFloat
    amplitude_K: NonNegativeFloat = 0.0
    oscillations: NonNegativeFloat = 0.0


class BoxRamp(Section):
    """L(s) = L0 + min(p n / n_ramp, 1)(L1 - L0) + A sin(2 pi n p), p = s/N (paper eqn 9); molecules stay rigid."""

    end_edge_A: PositiveFloat | None = None
    end_density_g_cm3: PositiveFloat | None = None
    amplitude_A: NonNegativeFloat = 0.0
    oscillations: NonNegativeFloat = 0.0
    ramp_oscillations: PositiveFloat | None = None  # ramp done after this many oscillations; None: over the whole run

    @model_validator(mode="after")
    def _one_target(self) -> "BoxRamp":
        if (self.end_edge_A is None) == (self.end_density_g_cm3 is None):
            raise ValueError("give exactly one of end_edge_A and end_density_g_cm3")
        return self


class PressureRamp(Section):
    """P(s) = P0 + (s/N)(P1 - P0), for NPT."""

    start_bar: float
    end_bar: float


class Modifiers(Section):
    """Any of the three ramps; a box ramp without oscillation is the linear rescale to a target density."""

    temperature_ramp: TemperatureRamp | None = None
    box_ramp: BoxRamp | None = None
    pressure_ramp: PressureRamp | None = None
