"""Our MTK NPT samples the same volume distribution as ASE's IsotropicMTKNPT on the same system and potential
(LJ argon, 32 atoms, 60 K, 100 bar), within statistical error."""

import numpy as np
from ase import units
from ase.lattice.cubic import FaceCenteredCubic
from ase.md.nose_hoover_chain import IsotropicMTKNPT
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from ilflow.md import MTKNPT, RunSettings, Schedule, lennard_jones, run_md
from ilflow.md.ase_calculator import ForceFieldCalculator

STEPS, EVERY, T, P = 12000, 10, 60.0, 100.0


def _mean_error_std(volumes):
    blocks = volumes[: len(volumes) // 20 * 20].reshape(20, -1).mean(axis=1)
    return volumes.mean(), blocks.std() / np.sqrt(20), volumes.std()


def test_volume_distribution_matches_ase(tmp_path):
    import h5py

    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.6)
    atoms.rattle(0.05, seed=1)
    n = len(atoms)
    ase_atoms = atoms.copy()
    ase_atoms.calc = ForceFieldCalculator(lennard_jones())
    MaxwellBoltzmannDistribution(ase_atoms, temperature_K=T, rng=np.random.default_rng(0))
    Stationary(ase_atoms)
    # ASE's chain targets 3N kT but the centre of mass is at rest (3N - 3 dof move): ask for the temperature
    # that gives the same kinetic energy per moving degree of freedom as ours
    dyn = IsotropicMTKNPT(ase_atoms, 10 * units.fs, T * (3 * n - 3) / (3 * n), P * units.bar, 200 * units.fs,
                          1000 * units.fs)
    ase_volumes = []
    for _ in range(STEPS // EVERY):
        dyn.run(EVERY)
        ase_volumes.append(ase_atoms.get_volume())
    ase_volumes = np.array(ase_volumes)[len(ase_volumes) // 10:]

    settings = RunSettings(steps=STEPS, frame_every=EVERY, frames_per_chunk=400, schedule=Schedule(T, P))
    run_md(lennard_jones(), atoms, MTKNPT(10.0, tau_fs=200.0, tau_barostat_fs=1000.0), settings, tmp_path)
    with h5py.File(tmp_path / "trajectory.h5md") as f:
        ours = np.abs(np.linalg.det(f["particles/trajectory/box/edges/value"][:]))
    ours = ours[len(ours) // 10:]
    (m_a, e_a, s_a), (m_o, e_o, s_o) = _mean_error_std(ase_volumes), _mean_error_std(ours)
    assert abs(m_a - m_o) < 4.0 * np.hypot(e_a, e_o), (m_a, e_a, m_o, e_o)
    assert abs(s_a / s_o - 1.0) < 0.2, (s_a, s_o)  # the fluctuations: kT V kappa_T
