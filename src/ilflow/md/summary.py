"""The record of one MD run (`summary.json` of a run directory)."""

from dataclasses import dataclass

from ilflow.records import Record


@dataclass(frozen=True)
class MDSummary(Record):
    """Steps done and why the run stopped, mean observables, drift of the conserved energy, speed."""

    steps_done: int
    steps_requested: int
    stop_reason: str | None  # None: the run did all its steps
    stop_step: int | None
    frames: int
    atoms: int
    mean_temperature_K: float | None
    mean_pressure_bar: float | None
    mean_density_g_cm3: float
    max_force_uncertainty_eV_A: float
    conserved_drift_eV_per_atom_per_ps: float
    ns_per_day: float
    atom_steps_per_s: float
    neighbor_list_builds: int
    replica: int | None = None  # run_replicas: which replica, its seed and targets
    seed: int | None = None
    target_temperature_K: float | None = None
    target_pressure_bar: float | None = None
    replicas: int | None = None
