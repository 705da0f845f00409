"""Classical MD with OpenMM (CPU, or CUDA when present): minimise, equilibrate, produce; checkpointed.

run_classical(atoms, settings, out) writes into `out`:
  trajectory.h5md  every frame (positions, box, potential energy, temperature, density);
  frames.extxyz    the decorrelated frames (every ceil(g) frames of the potential energy's statistical
                   inefficiency g; evenly spaced frames_wanted if fewer are decorrelated, as the summary
                   says), each with its origin in `info` (source, temperature_K, time_ps, density);
  summary.json     ns simulated, ns/day, mean density and temperature with 95% intervals, frames kept;
  checkpoint.chk   OpenMM checkpoint + state.json: running again continues where a killed run stopped.
"""

import json
import os
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow import progress, units
from ilflow.analysis.statistics import block_average, decorrelated_indices, statistical_inefficiency
from ilflow.classical.system import NM_PER_A, build_system, type_box
from ilflow.errors import ConfigError
from ilflow.md.h5md import OBSERVABLE_UNITS, H5MDWriter
from ilflow.project import atomic_path
from ilflow.records import Record

@dataclass(frozen=True)
class ClassicalSummary(Record):
    """`summary.json` of a classical run: what was simulated, how fast, the density and temperature with 95%
    intervals (block averages) and how many decorrelated frames were kept."""

    ensemble: str
    platform: str
    atoms: int
    simulated_ns: float
    production_ns: float
    wall_s: float
    ns_per_day: float | None
    frames: int
    decorrelated_frames: int
    frames_kept: int
    energy_inefficiency_frames: float
    mean_density_g_cm3: float
    density_95_g_cm3: float | None
    density_blocks: int
    mean_temperature_K: float
    temperature_95_K: float | None
    settings: dict


@dataclass(frozen=True)
class ClassicalSettings:
    ensemble: str = "nvt"  # nvt or npt (Monte Carlo barostat)
    thermostat: str = "langevin"  # langevin (LangevinMiddleIntegrator) or nose_hoover (NoseHooverIntegrator)
    temperature_K: float = 298.15
    pressure_bar: float = 1.0
    timestep_fs: float = 1.0  # 2 fs with constrain_h
    friction_per_ps: float = 1.0  # Langevin friction, or the Nose-Hoover collision frequency
    equilibration_ps: float = 20.0
    duration_ps: float = 100.0  # production
    frame_every_ps: float = 0.5
    cutoff_A: float | None = None  # default: 12 Å, or less than half the narrowest box width
    constrain_h: bool = False
    barostat_every: int = 25
    seed: int = 1
    frames_wanted: int | None = None  # decorrelated frames to keep (None: all decorrelated ones)

    def check(self) -> None:
        if self.ensemble not in ("nvt", "npt"):
            raise ConfigError(f"classical ensemble {self.ensemble!r}: choose nvt or npt")
        if self.thermostat not in ("langevin", "nose_hoover"):
            raise ConfigError(f"classical thermostat {self.thermostat!r}: choose langevin or nose_hoover")
        for name in ("temperature_K", "timestep_fs", "friction_per_ps", "duration_ps", "frame_every_ps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"classical {name} must be positive (got {getattr(self, name)})")
        if self.equilibration_ps < 0:
            raise ConfigError(f"classical equilibration_ps must not be negative (got {self.equilibration_ps})")
        if self.frame_every_ps * 1000 < self.timestep_fs:
            raise ConfigError("classical frame_every_ps must be at least one time step")


MIN_CUTOFF_A = 3.5  # the smallest nonbonded cutoff a classical run accepts


def default_cutoff_A(atoms: Atoms, largest: float = 12.0) -> float:
    """12 Å, or 0.5 Å less than half the narrowest width of the box (minimum image)."""
    cell = atoms.cell.array
    widths = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(np.roll(cell, -1, 0), np.roll(cell, -2, 0)), axis=1)
    return float(min(largest, 0.5 * widths.min() - 0.5))


def _platform():
    import openmm as mm

    names = [mm.Platform.getPlatform(k).getName() for k in range(mm.Platform.getNumPlatforms())]
    if "CUDA" in names:
        return mm.Platform.getPlatformByName("CUDA"), {}
    return mm.Platform.getPlatformByName("CPU"), {"Threads": str(len(os.sched_getaffinity(0)))}


def make_simulation(atoms: Atoms, settings: ClassicalSettings):
    """(context, integrator, n_dof, platform name) for `atoms` typed with CL&P."""
    import openmm as mm

    box = type_box(atoms)
    cutoff = settings.cutoff_A or default_cutoff_A(atoms)
    if cutoff < MIN_CUTOFF_A:
        raise ConfigError(f"the box is too small for a classical run: the largest cutoff is {cutoff:.1f} Å "
                          f"(at least {MIN_CUTOFF_A} Å); use more molecules")
    system, positions_nm = build_system(box, cutoff, settings.constrain_h)
    system.addForce(mm.CMMotionRemover())
    if settings.ensemble == "npt":
        system.addForce(mm.MonteCarloBarostat(settings.pressure_bar, settings.temperature_K, settings.barostat_every))
    if settings.thermostat == "langevin":
        integrator = mm.LangevinMiddleIntegrator(settings.temperature_K, settings.friction_per_ps,
                                                settings.timestep_fs * 1e-3)
        integrator.setRandomNumberSeed(settings.seed)
    else:
        integrator = mm.NoseHooverIntegrator(settings.temperature_K, settings.friction_per_ps,
                                             settings.timestep_fs * 1e-3)
    platform, properties = _platform()
    context = mm.Context(system, integrator, platform, properties)
    context.setPositions(positions_nm)
    n_dof = 3 * system.getNumParticles() - system.getNumConstraints() - 3
    return context, integrator, n_dof, platform.getName()


def _frame(context, n_dof: int, mass_amu: float) -> dict:
    state = context.getState(getPositions=True, getEnergy=True, getVelocities=False)
    cell = np.array(state.getPeriodicBoxVectors(asNumpy=True)) / NM_PER_A
    volume = abs(np.linalg.det(cell))
    kinetic = state.getKineticEnergy()._value
    return {"positions": np.array(state.getPositions(asNumpy=True)) / NM_PER_A, "cell": cell,
            "potential_energy": state.getPotentialEnergy()._value * units.KJ_MOL_EV,
            "kinetic_energy": kinetic * units.KJ_MOL_EV,
            "temperature": 2 * kinetic * units.KJ_MOL_EV / (n_dof * units.KB_EV_K),
            "density": units.density_g_cm3(mass_amu, volume)}


def run_classical(atoms: Atoms, settings: ClassicalSettings, out: str | Path) -> "ClassicalSummary":
    """Run (or continue) a classical trajectory into `out`; returns its summary (also in summary.json). The
    progress (production frames, temperature, density) is reported through ilflow.progress."""
    settings.check()
    out = Path(out)
    state_path = out / "state.json"
    if (out / "summary.json").exists():  # finished: the same settings continue to the same end, others are refused
        summary = ClassicalSummary.load(out / "summary.json")
        if summary.settings != asdict(settings):
            raise ConfigError(f"{out} holds a classical run with other settings; use another --out or delete it")
        return summary
    context, integrator, n_dof, platform = make_simulation(atoms, settings)  # bad input fails before any file
    out.mkdir(parents=True, exist_ok=True)
    mass = float(np.sum(atoms.get_masses()))
    steps_per_frame = max(1, int(round(settings.frame_every_ps * 1000 / settings.timestep_fs)))
    n_frames = max(1, int(round(settings.duration_ps * 1000 / settings.timestep_fs / steps_per_frame)))
    equilibration_steps = int(round(settings.equilibration_ps * 1000 / settings.timestep_fs))
    meta = {"settings": asdict(settings), "frames_done": 0, "equilibrated": False, "seconds": 0.0}
    if state_path.exists() and (out / "checkpoint.chk").exists():
        saved = json.loads(state_path.read_text())
        if saved["settings"] != meta["settings"]:
            raise ConfigError(f"{out} holds a classical run with other settings; use another --out or delete it")
        meta = saved
        context.loadCheckpoint((out / "checkpoint.chk").read_bytes())
    writer = H5MDWriter(out / "trajectory.h5md", atoms.numbers, atoms.get_masses())
    writer.truncate(meta["frames_done"])  # frames after the checkpoint are written again

    def checkpoint():
        with atomic_path(out / "checkpoint.chk") as tmp:
            Path(tmp).write_bytes(context.createCheckpoint())
        with atomic_path(state_path) as tmp:
            Path(tmp).write_text(json.dumps(meta, indent=1))

    name = f"classical {settings.ensemble.upper()} at {settings.temperature_K:g} K"
    with progress.task(name, total=n_frames, unit="frames", done=meta["frames_done"]) as task, closing(writer):
        if not meta["equilibrated"]:
            import openmm as mm

            mm.LocalEnergyMinimizer.minimize(context, 10.0, 2000)
            context.setVelocitiesToTemperature(settings.temperature_K, settings.seed)
            start = time.perf_counter()
            integrator.step(equilibration_steps)
            meta["seconds"] += time.perf_counter() - start
            meta["equilibrated"] = True
            checkpoint()
        while meta["frames_done"] < n_frames:
            start = time.perf_counter()
            integrator.step(steps_per_frame)
            frame = _frame(context, n_dof, mass)
            meta["seconds"] += time.perf_counter() - start
            meta["frames_done"] += 1
            step = equilibration_steps + meta["frames_done"] * steps_per_frame
            record = {"step": np.array([step]), "time_fs": np.array([step * settings.timestep_fs]),
                      "cell": frame["cell"][None], "positions": frame["positions"][None]}
            for name in OBSERVABLE_UNITS:
                record[name] = np.array([frame.get(name, np.nan)])
            writer.append(record)
            if meta["frames_done"] % 20 == 0 or meta["frames_done"] == n_frames:
                checkpoint()
            task.update(meta["frames_done"], K=frame["temperature"], g_per_cm3=frame["density"])
    summary = _finish(atoms, settings, out, meta, equilibration_steps, platform)
    summary.save(out / "summary.json")
    return summary


def _finish(atoms: Atoms, settings: ClassicalSettings, out: Path, meta: dict, equilibration_steps: int,
            platform: str) -> "ClassicalSummary":
    """Decorrelated frames (extxyz with provenance) and the summary."""
    import h5py

    with h5py.File(out / "trajectory.h5md", "r") as f:
        positions = f["particles/trajectory/position/value"][:]
        cells = f["particles/trajectory/box/edges/value"][:]
        times = f["particles/trajectory/position/time"][:]
        energy = f["observables/potential_energy/value"][:]
        temperature = f["observables/temperature/value"][:]
        density = f["observables/density/value"][:]
    keep = decorrelated_indices(energy, settings.frames_wanted)
    decorrelated = len(keep)
    if settings.frames_wanted and decorrelated < settings.frames_wanted:  # more frames than independent ones
        keep = np.round(np.linspace(0, len(energy) - 1, min(settings.frames_wanted, len(energy)))).astype(int)
    frames = []
    for k in keep:
        frame = Atoms(atoms.numbers, positions=positions[k], cell=cells[k], pbc=True)
        for name in ("molecule_id", "species_name"):
            if name in atoms.arrays:
                frame.new_array(name, atoms.arrays[name])
        frame.info.update(source="classical CL&P/OpenMM", ensemble=settings.ensemble,
                          temperature_K=float(settings.temperature_K), time_ps=float(times[k] / 1000),
                          density_g_cm3=float(density[k]))
        frames.append(frame)
    from ilflow.io import write_frames

    write_frames(out / "frames.extxyz", frames)
    simulated_ns = (equilibration_steps + meta["frames_done"] * max(1, int(round(
        settings.frame_every_ps * 1000 / settings.timestep_fs)))) * settings.timestep_fs * 1e-6
    rho, temp = block_average(density), block_average(temperature)
    return ClassicalSummary(
        ensemble=settings.ensemble, platform=platform, atoms=len(atoms), simulated_ns=simulated_ns,
        production_ns=meta["frames_done"] * settings.frame_every_ps * 1e-3, wall_s=meta["seconds"],
        ns_per_day=simulated_ns / meta["seconds"] * 86400 if meta["seconds"] else None,
        frames=int(meta["frames_done"]), decorrelated_frames=decorrelated, frames_kept=len(frames),
        energy_inefficiency_frames=statistical_inefficiency(energy), mean_density_g_cm3=rho.mean,
        density_95_g_cm3=rho.half_width_95, density_blocks=rho.blocks, mean_temperature_K=temp.mean,
        temperature_95_K=temp.half_width_95, settings=asdict(settings))
