"""Molecular dynamics in JAX: force fields, integrators (init/step pairs), checks, schedules, and the runner."""

from ilflow.md.checks import Checks
from ilflow.md.ensembles import ENSEMBLES, make_integrator
from ilflow.md.force_field import Evaluation, ForceField, from_model, lennard_jones
from ilflow.md.integrators import NVE, Langevin, NoseHoover
from ilflow.md.fire import FIRE
from ilflow.md.npt import MTKNPT
from ilflow.md.modifiers import EdgeRamp, PressureRamp, Schedule, TemperatureRamp, schedule_from
from ilflow.md.runner import RunSettings, run_md, run_replicas
from ilflow.md.state import Control, MDState

__all__ = ["ENSEMBLES", "FIRE", "MTKNPT", "NVE", "Checks", "Control", "EdgeRamp", "Evaluation", "ForceField", "Langevin", "MDState",
           "NoseHoover", "PressureRamp", "RunSettings", "Schedule", "TemperatureRamp", "from_model", "lennard_jones",
           "make_integrator", "run_md", "run_replicas", "schedule_from"]
