"""Shear viscosity and self-diffusion of the Lennard-Jones fluid near its triple point (T* = 0.722, rho* = 0.8442)
with ilflow's own LJ potential, MD engine (stress written every few steps) and analysis (Green-Kubo,
Einstein-Helfand, MSD with blocks, Yeh-Hummer with the viscosity computed here), against the published values of
Meier, Laesecke and Kabelac, J. Chem. Phys. 121, 3671 (2004) (viscosity) and 121, 9526 (2004) (self-diffusion,
extrapolated to infinite systems): eta* = 3.2-3.3, D* = 0.032-0.034."""

import h5py
import numpy as np
import pytest
from ase.lattice.cubic import FaceCenteredCubic
from ase.units import fs as ASE_FS

from ilflow import units
from ilflow.analysis.finite_size import yeh_hummer
from ilflow.analysis.msd import diffusion_with_error
from ilflow.analysis.trajectory import read_h5md
from ilflow.analysis.viscosity import einstein_helfand_viscosity, green_kubo
from ilflow.md import RunSettings, Schedule, h5md, lennard_jones, run_md
from ilflow.md.ensembles import make_integrator
from ilflow.potentials.lj import LJConfig

# argon in reduced units (Rahman 1964): sigma, epsilon, mass
SIGMA_A, EPSILON_EV, MASS_AMU = 3.405, 0.0103, 39.948
T_STAR, RHO_STAR = 0.722, 0.8442
ETA_STAR, D_STAR = (3.2, 3.3), (0.032, 0.034)
AMU_KG, EV_J = 1.66053906660e-27, 1.602176634e-19
TAU_FS = SIGMA_A * np.sqrt(MASS_AMU / EPSILON_EV) / ASE_FS  # sigma sqrt(m / epsilon): 2159 fs
ETA_UNIT_PA_S = np.sqrt(MASS_AMU * AMU_KG * EPSILON_EV * EV_J) / (SIGMA_A * 1e-10) ** 2  # 9.02e-5 Pa s
D_UNIT_M2_S = SIGMA_A * 1e-10 * np.sqrt(EPSILON_EV * EV_J / (MASS_AMU * AMU_KG))  # 5.37e-8 m^2/s


def _overlaps(value: float, half_width: float, reference: tuple[float, float]) -> bool:
    return value - half_width <= reference[1] and value + half_width >= reference[0]


@pytest.mark.slow
@pytest.mark.timeout(7200)  # 104,000 steps of 500 atoms: about 30 minutes on 2 cores
def test_lennard_jones_viscosity_and_diffusion_at_the_triple_point_match_meier_2004(tmp_path):
    # 500 atoms (5^3 FCC cells, box 8.40 sigma): the relative error of a Green-Kubo viscosity from a run of given
    # length hardly depends on the number of atoms, the finite size of D is corrected below. Cutoff 3.5 sigma,
    # switched off over its last 0.5 sigma (the potential there is below 0.006 epsilon); steps of 0.005 tau
    # (10.8 fs), as usual for LJ liquids
    T_K = T_STAR * EPSILON_EV / units.KB_EV_K  # 86.3 K
    dt_fs = 0.005 * TAU_FS
    lattice_A = (4 / RHO_STAR) ** (1 / 3) * SIGMA_A
    atoms = FaceCenteredCubic("Ar", size=(5, 5, 5), latticeconstant=lattice_A)
    force_field = lennard_jones(LJConfig(SIGMA_A, EPSILON_EV, 3.5 * SIGMA_A, 0.5 * SIGMA_A))

    def last_frame(folder):
        traj = read_h5md(folder / "trajectory.h5md", atoms)
        return traj.atoms(traj.n_frames - 1)

    # melt the lattice at 3 T* (8 tau), cool to T* (12 tau), both Langevin at 1/ps
    langevin = make_integrator("langevin", dt_fs, friction_per_ps=1.0)
    run_md(force_field, atoms, langevin, RunSettings(steps=1600, frame_every=400,
                                                     schedule=Schedule(temperature_K=3 * T_K)), tmp_path / "melt")
    run_md(force_field, last_frame(tmp_path / "melt"), langevin,
           RunSettings(steps=2400, frame_every=400, schedule=Schedule(temperature_K=T_K)), tmp_path / "cool")
    # 500 tau with a Nose-Hoover chain of 5 tau, far slower than the stress autocorrelation (about 1 tau), so that
    # the dynamics are Newtonian on the time scales that matter; stress every 2 steps, frames every 100
    production = make_integrator("nvt", dt_fs, thermostat_tau_fs=5 * TAU_FS)
    summary = run_md(force_field, last_frame(tmp_path / "cool"), production,
                     RunSettings(steps=100_000, frame_every=100, stress_every=2, seed=1,
                                 schedule=Schedule(temperature_K=T_K)), tmp_path / "md")
    assert summary.stop_reason is None
    path = tmp_path / "md" / "trajectory.h5md"
    traj = read_h5md(path, atoms)
    with h5py.File(path) as f:
        T_mean = float(np.mean(f["observables/temperature/value"][()]))
    assert T_mean * units.KB_EV_K / EPSILON_EV == pytest.approx(T_STAR, abs=0.01)
    _, time_fs, stress = h5md.pressure_tensor_series(path)
    volume_A3 = float(np.mean(traj.volumes_A3))
    dt_ps = (time_fs[1] - time_fs[0]) * 1e-3
    gk = green_kubo(stress, dt_ps, volume_A3, T_mean)
    eh = einstein_helfand_viscosity(stress, dt_ps, volume_A3, T_mean)
    D = diffusion_with_error(traj, n_blocks=5)
    D_m2_s = D.D_A2_ps * units.A2_PS_IN_M2_S
    # the finite box slows diffusion by xi kT / (6 pi eta L), 12% here: corrected with the viscosity just computed
    D_inf = yeh_hummer(D_m2_s, T_mean, gk.eta_Pa_s, volume_A3 ** (1 / 3))
    D_inf_half = D.half_width_95_A2_ps * units.A2_PS_IN_M2_S + (D_inf - D_m2_s) * gk.half_width_95_Pa_s / gk.eta_Pa_s
    eta_star = {name: (v.eta_Pa_s / ETA_UNIT_PA_S, v.half_width_95_Pa_s / ETA_UNIT_PA_S)
                for name, v in (("Green-Kubo", gk), ("Einstein-Helfand", eh))}
    d_star = (D_inf / D_UNIT_M2_S, D_inf_half / D_UNIT_M2_S)
    print(f"\nLJ at T* {T_mean * units.KB_EV_K / EPSILON_EV:.4f}, rho* {RHO_STAR}: " + ", ".join(
        f"eta* {name} {v:.3f} +- {h:.3f}" for name, (v, h) in eta_star.items())
        + f" (Green-Kubo cut at {gk.cutoff_ps / (TAU_FS * 1e-3):.2f} tau); D* in the box "
        f"{D_m2_s / D_UNIT_M2_S:.4f}, Yeh-Hummer {d_star[0]:.4f} +- {d_star[1]:.4f}; {summary.ns_per_day:.2f} ns/day")
    assert gk.diffusive and eh.diffusive and D.diffusive
    for name, (value, half) in eta_star.items():
        assert _overlaps(value, half, ETA_STAR), (name, value, half)
        assert half < 0.25 * value, (name, value, half)  # an interval that says something
    assert _overlaps(*d_star, D_STAR) and d_star[1] < 0.15 * d_star[0], d_star
