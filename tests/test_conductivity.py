"""Conductivity against analytic results: charged random walkers with a known cross-correlation."""

import numpy as np
import pytest

from ilflow.analysis import Trajectory, diffusion_with_error
from ilflow.analysis.conductivity import einstein_helfand, nernst_einstein_S_m, translational_dipole_eA

E_C, KB = 1.602176634e-19, 1.380649e-23  # CODATA 2018, exact
EDGE_A, T_K, DT_PS = 30.0, 300.0, 0.1


def _ion_pairs(pairs: int, frames: int, D_shared: float, D_own: float, seed: int) -> Trajectory:
    """`pairs` cations (Na, +1) and anions (Cl, -1), each a one-atom molecule. Pair k's cation and anion share a
    random walk (D_shared, Å^2/ps) and add their own (D_own): self-diffusion D_shared + D_own, while the charge
    current, cation minus anion, carries only the own walks. Wrapped into a cubic box of EDGE_A."""
    rng = np.random.default_rng(seed)

    def walk(d):
        return np.cumsum(rng.normal(0.0, np.sqrt(2 * d * DT_PS), (frames, pairs, 3)), axis=0)

    start = rng.uniform(0, EDGE_A, (pairs, 3))
    shared = walk(D_shared) + start
    x = np.concatenate([shared + walk(D_own), shared + walk(D_own)], axis=1) % EDGE_A
    numbers = np.array([11] * pairs + [17] * pairs)
    return Trajectory(x, np.eye(3) * EDGE_A, np.arange(frames) * DT_PS, numbers, np.full(2 * pairs, 30.0),
                      np.arange(2 * pairs))


def _charges(pairs: int) -> np.ndarray:
    return np.array([1.0] * pairs + [-1.0] * pairs)


def test_nernst_einstein_is_the_sum_of_q2_D_over_V_kT():
    # 100 ion pairs of D = 1e-10 m^2/s each in (30 Å)^3 at 300 K: 200 e^2 1e-10 / (2.7e-26 m^3 kB 300 K)
    expected = 200 * E_C**2 * 1e-10 / (EDGE_A**3 * 1e-30 * KB * T_K)
    assert nernst_einstein_S_m([1e-10, 1e-10], [100, 100], [1, -1], EDGE_A**3, T_K) == pytest.approx(expected)
    assert expected == pytest.approx(4.59, abs=0.01)  # S/m (e^2 = 2.567e-38 C^2, V kB T = 1.118e-46 m^3 J)


def test_translational_dipole_follows_the_unwrapped_centres():
    traj = _ion_pairs(3, 50, 0.5, 0.5, seed=1)
    dipole = translational_dipole_eA(traj, _charges(3))
    steps = np.diff(traj.positions, axis=0)
    steps -= np.round(steps / EDGE_A) * EDGE_A  # minimum image of each step, computed here
    expected = traj.positions[0] + np.concatenate([np.zeros((1, 6, 3)), np.cumsum(steps, axis=0)])
    assert dipole == pytest.approx(expected[:, :3].sum(1) - expected[:, 3:].sum(1), abs=1e-9)


@pytest.mark.parametrize("D_shared, ionicity", [(0.0, 1.0), (0.15, 0.25)])
def test_einstein_helfand_against_the_analytic_conductivity_and_ionicity(D_shared, ionicity):
    """Cation and anion of a pair moving together carry no current: sigma_EH = e^2 / (V kT) N 2 D_own while
    sigma_NE = e^2 / (V kT) 2 N (D_shared + D_own); ionicity D_own / (D_shared + D_own), 1 without sharing."""
    pairs, D_own = 100, 0.05  # Å^2/ps
    traj = _ion_pairs(pairs, 4000, D_shared, D_own, seed=2)
    prefactor = E_C**2 / (EDGE_A**3 * 1e-30 * KB * T_K) * 1e-8  # per Å^2/ps
    analytic = prefactor * pairs * 2 * D_own
    eh = einstein_helfand(traj, _charges(pairs), T_K, n_blocks=5)
    assert eh.diffusive and len(eh.blocks) == 5
    assert abs(eh.sigma_S_m - analytic) <= eh.half_width_95_S_m  # within its interval
    assert eh.half_width_95_S_m < 0.5 * analytic  # and the interval means something
    D = [diffusion_with_error(traj, 5, select=z).D_m2_s for z in ("Na", "Cl")]
    assert D == pytest.approx([(D_shared + D_own) * 1e-8] * 2, rel=0.05)
    ne = nernst_einstein_S_m(D, [pairs, pairs], [1, -1], EDGE_A**3, T_K)
    assert ne == pytest.approx(prefactor * 2 * pairs * (D_shared + D_own), rel=0.05)
    assert abs(eh.sigma_S_m / ne - ionicity) <= eh.half_width_95_S_m / ne + 0.05 * ionicity
