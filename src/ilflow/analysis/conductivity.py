"""Ionic conductivity: Nernst-Einstein from the self-diffusion of the ions, Einstein-Helfand from the
translational dipole, and their ratio, the ionicity.

sigma_NE = e^2 / (V k_B T) sum_i N_i q_i^2 D_i (ions moving independently), and the collective conductivity
sigma_EH = e^2 / (6 V k_B T) d<|M(t) - M(0)|^2>/dt with M = sum_j q_j r_j over the unwrapped centres of mass of
the molecules, q in units of e (Hansen & McDonald, Theory of Simple Liquids, 4th ed., ch. 10.1; for ionic
liquids e.g. Schroeder, Wakai, Weingaertner & Steinhauser, J. Chem. Phys. 126, 084511 (2007)). The ionicity
sigma_EH / sigma_NE (the inverse Haven ratio) is 1 for uncorrelated ions and below 1 where cations and anions
move together.

M is one vector per frame: its MSD averages over time origins only, not over particles, so it is far noisier
than a self-diffusion MSD; the interval comes from blocks (or replicas), and the fit window from the same
diffusive test as D (ilflow.analysis.msd), a log-log slope of 1 over a decade of lag time.
SI units in the results: sigma in S/m.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ilflow.analysis.msd import Diffusion, diffusion_coefficient, msd_fft
from ilflow.analysis.trajectory import AnalysisError, Trajectory, molecule_centres, unwrap
from ilflow.units import A2_PS_IN_M2_S, ANGSTROM_M, BOLTZMANN_J_K, ELEMENTARY_CHARGE_C


def _prefactor_S_m(volume_A3: float, temperature_K: float) -> float:
    """e^2 / (V k_B T) in S/m per (m^2/s): multiplies a sum of q^2 D (D in m^2/s)."""
    if volume_A3 <= 0 or temperature_K <= 0:
        raise AnalysisError(f"a conductivity needs a positive volume and temperature (got {volume_A3} Å^3, "
                            f"{temperature_K} K)")
    return ELEMENTARY_CHARGE_C**2 / (volume_A3 * ANGSTROM_M**3 * BOLTZMANN_J_K * temperature_K)


def nernst_einstein_S_m(D_m2_s: Sequence[float], counts: Sequence[int], charges_e: Sequence[float],
                        volume_A3: float, temperature_K: float) -> float:
    """sigma_NE (S/m) of ion species with self-diffusion D_m2_s (m^2/s), `counts` ions each of charge charges_e
    (e) in volume_A3 (Å^3) at temperature_K (K)."""
    terms = [n * q**2 * d for d, n, q in zip(D_m2_s, counts, charges_e, strict=True)]
    return _prefactor_S_m(volume_A3, temperature_K) * float(np.sum(terms))


def translational_dipole_eA(traj: Trajectory, charges_e: Sequence[float]) -> np.ndarray:
    """M(t) = sum_j q_j r_j (F, 3) e Å over the unwrapped centres of mass of the molecules (q_j: the charge of
    molecule j in e, molecules in order of first atom as molecule_formulas lists them)."""
    q = np.asarray(charges_e, dtype=float)
    centres, _ = molecule_centres(traj)
    if len(q) != centres.shape[1]:
        raise AnalysisError(f"{len(q)} charges for {centres.shape[1]} molecules")
    return np.einsum("fmi,m->fi", unwrap(centres, traj.cells), q)


@dataclass(frozen=True)
class Conductivity:
    """sigma_EH (S/m) with a Student-t 95% half width from blocks (None: too short), and the fit of the dipole's
    MSD (its D_A2_ps is the slope / 6, in e^2 Å^2/ps). diffusive: the whole run's fit passes the diffusive test
    and its window fits into the blocks."""

    sigma_S_m: float
    half_width_95_S_m: float | None
    diffusive: bool
    fit: Diffusion
    blocks: tuple[float, ...]  # sigma (S/m) of each block


def einstein_helfand(traj: Trajectory, charges_e: Sequence[float], temperature_K: float, n_blocks: int = 5,
                     max_fraction: float = 0.5, **fit) -> Conductivity:
    """Collective conductivity sigma_EH of a trajectory: the MSD of M (all time origins, FFT), fitted as D is
    (keyword arguments `fit` go to diffusion_coefficient), the volume averaged over the frames. The interval:
    n_blocks consecutive blocks, each fitted over the whole run's window (M's MSD averages over time origins only,
    so a window each block chose in its own MSD would follow its noise: with 200-frame blocks of 26 walkers every
    run had a block fail the slope test); none with fewer than 2 blocks of 10 frames or blocks too short for the
    window (then not diffusive either)."""
    time_ps = traj.time_ps - traj.time_ps[0]
    dipole = translational_dipole_eA(traj, charges_e)
    prefactor = _prefactor_S_m(float(np.mean(traj.volumes_A3)), temperature_K) * A2_PS_IN_M2_S
    whole = diffusion_coefficient(time_ps, msd_fft(dipole), max_fraction=max_fraction, **fit)
    size = traj.n_frames // n_blocks if n_blocks >= 2 else 0
    window = (time_ps >= whole.t_start_ps) & (time_ps <= whole.t_end_ps * (1 + 1e-12))
    if size < 10 or whole.t_end_ps > max_fraction * time_ps[size - 1] * (1 + 1e-12) or window.sum() < 3:
        return Conductivity(prefactor * whole.D_A2_ps, None, False, whole, ())
    lags = time_ps[:size][window[:size]]
    values = np.array([prefactor * stats.linregress(lags, msd_fft(dipole[k * size:(k + 1) * size])[window[:size]])
                       .slope / 6.0 for k in range(n_blocks)])
    half = float(stats.t.ppf(0.975, n_blocks - 1) * np.std(values, ddof=1) / np.sqrt(n_blocks))
    return Conductivity(prefactor * whole.D_A2_ps, half, whole.diffusive, whole, tuple(float(v) for v in values))
