"""The record of one production run (`run.json` of its stage directory)."""

from dataclasses import dataclass

from ilflow.md.summary import MDSummary
from ilflow.records import Record


@dataclass(frozen=True)
class StepRecord(Record):
    """A preparation step (relax, rescale): steps done and why it stopped."""

    steps_done: int | None
    stop_reason: str | None
    mean_temperature_K: float | None = None


@dataclass(frozen=True)
class RunRecord(Record):
    group: str
    key: str
    ensemble: str  # nvt or npt
    temperature_K: float
    formula_units: int
    seed: int
    atoms: int
    target_density_g_cm3: float | None  # NVT: the density the box was rescaled to
    start_density_g_cm3: float
    pressure_bar: float | None  # NPT
    model: str  # ensemble or hybrid
    force_field: str
    dispersion: dict | None
    timestep_fs: float
    frame_interval_fs: float
    equilibration_ps: float
    production_ps: float
    relax: StepRecord
    rescale: StepRecord
    md: MDSummary  # the production MD (or the rescale's summary when that stopped)
    trajectory: str  # relative to the run directory
    structure: str
    completed: bool
    wall_s: float
    failed_step: str | None = None
    dispersion_every: int = 1  # run-time dispersion every k MD steps (multiple time stepping)

    @property
    def name(self) -> str:
        return f"{self.group}/{self.key}"
