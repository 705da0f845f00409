"""Synthetic production runs with known answers, written as ilflow's production stage writes them."""

from pathlib import Path

import numpy as np
from ase import Atoms

from ilflow.io import write_frames
from ilflow.md.h5md import OBSERVABLE_UNITS, H5MDWriter
from ilflow.md.summary import MDSummary
from ilflow.production.records import RunRecord, StepRecord

EQUILIBRATION_PS = 1.0


def frames_before(time_ps: float, dt_ps: float) -> int:
    """Frames 0, dt, 2 dt, ... earlier than time_ps: the equilibration frames the analysis leaves out."""
    return int(np.ceil(time_ps / dt_ps - 1e-9))


def synthetic_run(folder: Path, ensemble: str, T: float, D_A2_ps: float, seed: int, frames: int = 400,
                  dt_ps: float = 0.1, edge_A: float = 12.0, uncertainty_eV_A: np.ndarray | None = None,
                  model: str = "ensemble", ions: bool = False, stress: np.ndarray | None = None,
                  wrap: bool = False) -> dict:
    """27 rigid diatomic 'molecules' (B-F, 1.4 Å) on random walks with a known D; box edge fluctuating for NPT.
    A production run directory (packed.extxyz, md/trajectory.h5md, run.json) with EQUILIBRATION_PS of
    equilibration; `uncertainty_eV_A`: the per-frame force uncertainty written (default zeros). ions: molecules
    0-12 carry +1 e and 13-25 -1 e (on their B atom; molecule 26 stays neutral). stress: a pressure-tensor series
    (k (frames - 1), 3, 3) eV/Å^3 written as the MD writes it, k samples in each frame after the first. wrap: every
    atom written inside its frame's cell (molecules split across the boundary), as a wrapping MD writes them."""
    rng = np.random.default_rng(seed)
    n_mol = 27
    grid = (np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * edge_A / 3
    steps = rng.normal(0.0, np.sqrt(2 * D_A2_ps * dt_ps), size=(frames, n_mol, 3))
    steps[0] = 0.0
    centres = grid[None] + np.cumsum(steps, axis=0)
    bond = np.array([0.0, 0.0, 1.4])
    positions = np.concatenate([centres - bond / 2, centres + bond / 2], axis=1)  # atoms 0..26 B, 27..53 F
    numbers = np.array([5] * n_mol + [9] * n_mol)
    molecule_id = np.concatenate([np.arange(n_mol), np.arange(n_mol)])
    edges = edge_A * (1 + (0.01 * rng.normal(size=frames) if ensemble == "npt" else np.zeros(frames)))
    if wrap:  # cubic cells: fractional coordinates are positions / edge
        positions = positions - np.floor(positions / edges[:, None, None]) * edges[:, None, None]
    atoms = Atoms(numbers, positions=positions[0], cell=np.eye(3) * edge_A, pbc=True)
    atoms.new_array("molecule_id", molecule_id)
    atoms.new_array("species_name", np.array(["BF"] * (2 * n_mol)))
    if ions:
        atoms.set_initial_charges(np.concatenate([[1.0] * 13 + [-1.0] * 13 + [0.0], np.zeros(n_mol)]))
    folder.mkdir(parents=True)
    write_frames(folder / "packed.extxyz", atoms)
    (folder / "md").mkdir()
    writer = H5MDWriter(folder / "md" / "trajectory.h5md", numbers, atoms.get_masses(),
                        pressure_tensor=stress is not None)
    record = {name: np.zeros(frames) for name in OBSERVABLE_UNITS}
    if uncertainty_eV_A is not None:
        record["force_uncertainty"] = np.asarray(uncertainty_eV_A, dtype=float)
    record.update(step=np.arange(frames) * 100, time_fs=np.arange(frames) * dt_ps * 1000,
                  cell=edges[:, None, None] * np.eye(3), positions=positions)
    if stress is None:
        writer.append(record)
    else:  # the first frame has no samples before it
        writer.append({name: v[:1] for name, v in record.items()})
        per_frame = len(stress) // (frames - 1)
        steps = 100 * np.arange(1, len(stress) + 1) // per_frame
        rest = {name: v[1:] for name, v in record.items()}
        rest.update(pressure_tensor=stress.reshape(frames - 1, per_frame, 3, 3),
                    pressure_tensor_step=steps.reshape(frames - 1, per_frame),
                    pressure_tensor_time_fs=(steps * dt_ps * 10).reshape(frames - 1, per_frame))
        writer.append(rest)
    writer.close()
    md = MDSummary(steps_done=100 * (frames - 1), steps_requested=100 * (frames - 1), stop_reason=None, stop_step=None,
                   frames=frames, atoms=2 * n_mol, mean_temperature_K=T, mean_pressure_bar=1.0, mean_density_g_cm3=1.0,
                   max_force_uncertainty_eV_A=float(np.max(record["force_uncertainty"])),
                   conserved_drift_eV_per_atom_per_ps=0.0, ns_per_day=1.0, atom_steps_per_s=1.0, neighbor_list_builds=1)
    run = RunRecord(group=ensemble, key=f"1fu-{T:g}K-seed{seed}", ensemble=ensemble, temperature_K=T, formula_units=1,
                    seed=seed, atoms=2 * n_mol, target_density_g_cm3=None, start_density_g_cm3=1.0, pressure_bar=None,
                    model=model, force_field="synthetic", dispersion=None, timestep_fs=1.0,
                    frame_interval_fs=100.0, equilibration_ps=EQUILIBRATION_PS,
                    production_ps=(frames - 1) * dt_ps - EQUILIBRATION_PS,
                    relax=StepRecord(0, None), rescale=StepRecord(0, None), md=md, trajectory="md/trajectory.h5md",
                    structure="packed.extxyz", completed=True, wall_s=0.0)
    run.save(folder / "run.json")
    assert RunRecord.load(folder / "run.json") == run  # the JSON round trip
    mass = atoms.get_masses().sum()
    analysed = slice(frames_before(EQUILIBRATION_PS, dt_ps), None)
    return {"density": mass / 6.02214076e23 / (edges[analysed] ** 3 * 1e-24), "record": run}


def ou_stress(frames: int, dt_ps: float, variance: float, tau_ps: float, seed: int) -> np.ndarray:
    """A symmetric stress series (F, 3, 3) eV/Å^3 whose five traceless components are independent
    Ornstein-Uhlenbeck processes (exact updates) of `variance` and correlation time tau_ps: each has the
    autocorrelation variance exp(-t / tau), whose integral is variance x tau. The trace is random noise, which
    the traceless components do not see."""
    rng = np.random.default_rng(seed)
    keep = np.exp(-dt_ps / tau_ps)
    c = np.empty((frames, 5))
    c[0] = rng.normal(0.0, np.sqrt(variance), 5)
    noise = rng.normal(0.0, np.sqrt(variance * (1 - keep**2)), (frames, 5))
    for k in range(1, frames):
        c[k] = keep * c[k - 1] + noise[k]
    # diagonal d with (d_xx - d_yy) / 2 = c3 and (d_yy - d_zz) / 2 = c4, plus a pressure common to all three
    pressure = rng.normal(0.0, 0.01, frames)
    d_yy = np.zeros(frames)
    stress = np.zeros((frames, 3, 3))
    stress[:, 0, 0], stress[:, 1, 1], stress[:, 2, 2] = d_yy + 2 * c[:, 3], d_yy, d_yy - 2 * c[:, 4]
    stress += pressure[:, None, None] * np.eye(3)
    for (i, j), k in (((0, 1), 0), ((0, 2), 1), ((1, 2), 2)):
        stress[:, i, j] = stress[:, j, i] = c[:, k]
    return stress
