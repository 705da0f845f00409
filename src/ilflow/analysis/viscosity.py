"""Shear viscosity from the stress tensor of an MD run: Green-Kubo and Einstein-Helfand.

Green-Kubo: eta = V / (k_B T) int_0^inf <P(0) P(t)> dt, averaged over the five independent components of the
traceless symmetric stress of an isotropic liquid, P_xy, P_xz, P_yz, (P_xx - P_yy) / 2 and (P_yy - P_zz) / 2,
which share the autocorrelation of P_xy (Daivis & Evans, J. Chem. Phys. 100, 541 (1994); Alfe & Gillan, Phys.
Rev. Lett. 81, 5161 (1998)). The running integral is cut where the averaged autocorrelation first falls within one
standard error of zero (standard errors from the spread between blocks): beyond that it adds mostly noise. On
Ornstein-Uhlenbeck stresses (200,000 samples, 5 blocks) that cut falls at 5-6.5 correlation times and the 95%
interval held the exact integral in 10 of 10 series; cut within two standard errors, at 4-5.5 correlation times,
the missing tail (1-2%) left it outside in 2 of 10. The interval comes from the blocks, each integrated to the
same cutoff.

Einstein-Helfand: eta = V / (2 k_B T) d<(G(t) - G(0))^2>/dt with G(t) = int_0^t P dt', the same quantity as the
MSD of the integrated stress; it is fitted as a diffusion coefficient is (ilflow.analysis.msd, one dimension:
MSD = 2 D t, so eta = V D / (k_B T)), with the interval from blocks fitted over the whole run's window.

Stress in eV/Å^3 (ASE's sign convention; the sign drops out), times in ps, results in Pa s.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ilflow.analysis.msd import Diffusion, diffusion_coefficient, msd_fft
from ilflow.analysis.trajectory import AnalysisError
from ilflow.units import ANGSTROM_M, BOLTZMANN_J_K, EV_A3_IN_PA


def shear_components(stress_eV_A3: np.ndarray) -> np.ndarray:
    """The five independent traceless components (F, 5) of a stress series (F, 3, 3) eV/Å^3."""
    s = np.asarray(stress_eV_A3, dtype=float)
    if s.ndim != 3 or s.shape[1:] != (3, 3):
        raise AnalysisError(f"a stress series has shape (frames, 3, 3), not {s.shape}")
    return np.stack([s[:, 0, 1], s[:, 0, 2], s[:, 1, 2], 0.5 * (s[:, 0, 0] - s[:, 1, 1]),
                     0.5 * (s[:, 1, 1] - s[:, 2, 2])], axis=1)


def _prefactor(volume_A3: float, temperature_K: float) -> float:
    """V / (k_B T) times the unit conversions: Pa s per (eV/Å^3)^2 ps."""
    if volume_A3 <= 0 or temperature_K <= 0:
        raise AnalysisError(f"a viscosity needs a positive volume and temperature (got {volume_A3} Å^3, "
                            f"{temperature_K} K)")
    return volume_A3 * ANGSTROM_M**3 * EV_A3_IN_PA**2 * 1e-12 / (BOLTZMANN_J_K * temperature_K)


@dataclass(frozen=True)
class Viscosity:
    """eta (Pa s) with a Student-t 95% half width from blocks; cutoff_ps: where the Green-Kubo integral was cut
    (Einstein-Helfand: the fit window's end); blocks: eta of each block; diffusive: Einstein-Helfand's fit passed
    the diffusive test (Green-Kubo: the autocorrelation reached zero within the lags used)."""

    eta_Pa_s: float
    half_width_95_Pa_s: float
    cutoff_ps: float
    blocks: tuple[float, ...]
    diffusive: bool


def _blocks(components: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    size = len(components) // n_blocks
    if n_blocks < 2 or size < 20:
        raise AnalysisError(f"{len(components)} stress samples cannot be cut into {n_blocks} blocks of at least 20 "
                            "(n_blocks must be at least 2)")
    return [components[k * size:(k + 1) * size] for k in range(n_blocks)]


def _autocorrelation(x: np.ndarray, lags: int) -> np.ndarray:
    """Unnormalised autocorrelation (unbiased per lag) of every column of x (n, c), averaged over the columns."""
    n = len(x)
    spectrum = np.fft.rfft(x - x.mean(axis=0), 2 * n, axis=0)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, 2 * n, axis=0)[:lags] / np.arange(n, n - lags, -1)[:, None]
    return acf.mean(axis=1)


def _student(values: np.ndarray) -> float:
    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))


def green_kubo(stress_eV_A3: np.ndarray, dt_ps: float, volume_A3: float, temperature_K: float,
               n_blocks: int = 5, max_fraction: float = 0.5) -> Viscosity:
    """Green-Kubo shear viscosity of a stress series sampled every dt_ps, lags up to max_fraction of a block."""
    blocks = _blocks(shear_components(stress_eV_A3), n_blocks)
    lags = max(2, int(max_fraction * len(blocks[0])))
    acf = np.array([_autocorrelation(b, lags) for b in blocks])  # (blocks, lags)
    mean, error = acf.mean(axis=0), acf.std(axis=0, ddof=1) / np.sqrt(n_blocks)
    within = np.flatnonzero(np.abs(mean[1:]) <= error[1:])
    cut = int(within[0]) + 1 if len(within) else lags - 1
    integrals = np.trapezoid(acf[:, :cut + 1], dx=dt_ps, axis=1) * _prefactor(volume_A3, temperature_K)
    return Viscosity(float(integrals.mean()), _student(integrals), cut * dt_ps, tuple(map(float, integrals)),
                     bool(len(within)))


def einstein_helfand_viscosity(stress_eV_A3: np.ndarray, dt_ps: float, volume_A3: float, temperature_K: float,
                               n_blocks: int = 5, max_fraction: float = 0.5, **fit) -> Viscosity:
    """Einstein-Helfand shear viscosity: the MSD of the integrated stress components (trapezoid rule), fitted as D
    (keyword arguments `fit` go to diffusion_coefficient); blocks fitted over the whole run's window."""
    components = shear_components(stress_eV_A3)
    integrated = np.concatenate([np.zeros((1, 5)), np.cumsum(0.5 * (components[1:] + components[:-1]) * dt_ps,
                                                              axis=0)])
    time_ps = np.arange(len(components)) * dt_ps
    whole: Diffusion = diffusion_coefficient(time_ps, msd_fft(integrated[:, :, None]), max_fraction=max_fraction,
                                             dimensions=1, **fit)
    prefactor = _prefactor(volume_A3, temperature_K)
    size = len(components) // n_blocks
    window = (time_ps >= whole.t_start_ps) & (time_ps <= whole.t_end_ps * (1 + 1e-12))
    if n_blocks < 2 or size < 20 or whole.t_end_ps > max_fraction * time_ps[size - 1] or window[:size].sum() < 3:
        raise AnalysisError(f"blocks of {size} stress samples are too short for the fit window "
                            f"({whole.t_start_ps:g}-{whole.t_end_ps:g} ps); use fewer blocks or a longer run")
    lags = time_ps[:size][window[:size]]
    values = np.array([prefactor * stats.linregress(lags, msd_fft(b[:, :, None])[window[:size]]).slope / 2.0
                       for b in np.split(integrated[:n_blocks * size], n_blocks)])
    return Viscosity(prefactor * whole.D_A2_ps, _student(values), whole.t_end_ps, tuple(map(float, values)),
                     whole.diffusive)
