"""Finite-size correction of diffusion coefficients, experimental viscosities, and Arrhenius fits.

Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004): in a cubic periodic box of edge L the self-diffusion
coefficient is lowered by the hydrodynamic self-interaction, D_inf = D_PBC + xi k_B T / (6 pi eta L), with
xi = 2.837297 (cubic lattice) and eta the shear viscosity. Conversely D_PBC(L) is linear in 1/L with slope
-xi k_B T / (6 pi eta), so boxes of several sizes give D_inf (intercept) and eta (slope).
SI units inside: D in m^2/s, eta in Pa s, L converted from Å.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ilflow.analysis.trajectory import AnalysisError
from ilflow.units import ANGSTROM_M, BOLTZMANN_J_K, GAS_CONSTANT_KJ_MOL_K, MPA_S_IN_PA_S

XI_CUBIC = 2.837297  # Yeh & Hummer 2004, cubic box


def yeh_hummer_correction_m2_s(T_K: float, eta_Pa_s: float, L_A: float, xi: float = XI_CUBIC) -> float:
    """xi k_B T / (6 pi eta L) in m^2/s: what a cubic box of edge L_A (Å) takes off D at T_K (K), eta_Pa_s (Pa s)."""
    if eta_Pa_s <= 0 or L_A <= 0 or T_K <= 0:
        raise AnalysisError(f"Yeh-Hummer needs positive T, eta and L (got {T_K} K, {eta_Pa_s} Pa s, {L_A} A)")
    return xi * BOLTZMANN_J_K * T_K / (6.0 * np.pi * eta_Pa_s * L_A * ANGSTROM_M)


def yeh_hummer(D_pbc_m2_s: float, T_K: float, eta_Pa_s: float, L_A: float, xi: float = XI_CUBIC) -> float:
    """D_inf (m^2/s) = D_PBC + xi k_B T / (6 pi eta L) for a cubic box of edge L_A (Å)."""
    return D_pbc_m2_s + yeh_hummer_correction_m2_s(T_K, eta_Pa_s, L_A, xi)


def viscosity_from_table(T_K, csv_path: str | Path, max_extrapolation_K: float = 2.0):
    """Viscosity in Pa s at T_K, interpolated from a CSV table (lines starting with '#' are comments) with a
    column temperature_K and a column viscosity_mPa_s or viscosity_Pa_s, e.g. the reference table of BMIM-BF4.

    Interpolation is linear in ln(eta) against 1/T (Arrhenius-like between neighbouring points); temperatures
    more than `max_extrapolation_K` outside the table raise AnalysisError (within it, the end segment is extended:
    283 K from a table that starts at 283.15 K).
    """
    from ilflow.analysis.experiment import read_table

    T, eta, column = read_table(csv_path, ("viscosity_mPa_s", "viscosity_Pa_s"))
    eta = eta * (MPA_S_IN_PA_S if column == "viscosity_mPa_s" else 1.0)
    path = csv_path
    T_K_arr = np.asarray(T_K, dtype=float)
    if np.any(T_K_arr < T[0] - max_extrapolation_K) or np.any(T_K_arr > T[-1] + max_extrapolation_K):
        raise AnalysisError(f"T = {T_K} K is outside the viscosity table {path} ({T[0]:g}-{T[-1]:g} K)")
    # np.interp needs increasing x: 1/T decreases with T, so interpolate on -1/T
    x, y = -1.0 / T, np.log(eta)
    slope_lo, slope_hi = (y[1] - y[0]) / (x[1] - x[0]), (y[-1] - y[-2]) / (x[-1] - x[-2])
    xq = -1.0 / T_K_arr
    value = np.exp(np.where(xq < x[0], y[0] + slope_lo * (xq - x[0]),
                            np.where(xq > x[-1], y[-1] + slope_hi * (xq - x[-1]), np.interp(xq, x, y))))
    return float(value) if value.ndim == 0 else value


def _linear_fit(x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None) -> tuple[float, float, np.ndarray]:
    """y = a + b x by weighted least squares: (a, b, covariance of (a, b)). With sigma the covariance uses the
    given errors as absolute; without, it is scaled by the residual variance (NaN for two points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise AnalysisError("a linear fit needs at least two different x values")
    w = np.ones_like(y) if sigma is None else 1.0 / np.asarray(sigma, dtype=float) ** 2
    centre, scale = np.mean(x), np.ptp(x)  # fit in a well-conditioned variable u = (x - centre) / scale
    design = np.stack([np.ones_like(x), (x - centre) / scale], axis=1)
    cov_u = np.linalg.inv(design.T @ (design * w[:, None]))
    a_u, b_u = cov_u @ (design.T @ (w * y))
    if sigma is None:
        dof = len(x) - 2
        cov_u = cov_u * (np.sum((y - design @ [a_u, b_u]) ** 2) / dof if dof > 0 else np.nan)
    back = np.array([[1.0, -centre / scale], [0.0, 1.0 / scale]])  # (a, b) = back @ (a_u, b_u)
    a, b = back @ [a_u, b_u]
    return float(a), float(b), back @ cov_u @ back.T


@dataclass(frozen=True)
class SizeExtrapolation:
    """D(L) = D_inf - slope / L: D_inf (m^2/s) with its standard error, slope (m^3/s), and the shear viscosity
    eta = xi k_B T / (6 pi slope) (Pa s) when T was given."""

    D_inf_m2_s: float
    D_inf_error_m2_s: float
    slope_m3_s: float
    slope_error_m3_s: float
    viscosity_Pa_s: float | None = None
    viscosity_error_Pa_s: float | None = None


def extrapolate_infinite_size(L_A, D_m2_s, D_error_m2_s=None, T_K: float | None = None,
                              xi: float = XI_CUBIC) -> SizeExtrapolation:
    """Fit D (m^2/s) of cubic boxes with edges L_A (Å) linearly in 1/L (weighted by 1/D_error^2 when given)."""
    L_m = np.asarray(L_A, dtype=float) * ANGSTROM_M
    D = np.asarray(D_m2_s, dtype=float)
    if L_m.shape != D.shape or np.any(L_m <= 0):
        raise AnalysisError("L_A and D_m2_s must be equally long, with positive box edges")
    a, b, cov = _linear_fit(1.0 / L_m, D, None if D_error_m2_s is None else np.asarray(D_error_m2_s, dtype=float))
    slope, slope_error = -b, float(np.sqrt(cov[1, 1]))
    eta = eta_error = None
    if T_K is not None:
        eta = xi * BOLTZMANN_J_K * T_K / (6.0 * np.pi * slope)
        eta_error = abs(eta) * slope_error / abs(slope)
    return SizeExtrapolation(a, float(np.sqrt(cov[0, 0])), slope, slope_error, eta, eta_error)


@dataclass(frozen=True)
class ArrheniusFit:
    """D(T) = D0 exp(-E_a / (R T)): activation energy (kJ/mol) and prefactor D0 (units of D), standard errors."""

    activation_energy_kJ_mol: float
    activation_energy_error_kJ_mol: float
    prefactor: float
    prefactor_error: float


def arrhenius_fit(T_K, D, D_error=None) -> ArrheniusFit:
    """Fit ln D = ln D0 - E_a / (R T) (weighted by (D / D_error)^2 when errors are given); D in any unit."""
    T, D = np.asarray(T_K, dtype=float), np.asarray(D, dtype=float)
    if T.shape != D.shape or np.any(T <= 0) or np.any(D <= 0):
        raise AnalysisError("arrhenius_fit needs equally many positive temperatures and positive D values")
    sigma = None if D_error is None else np.asarray(D_error, dtype=float) / D
    a, b, cov = _linear_fit(1.0 / T, np.log(D), sigma)
    R_kJ_mol_K = GAS_CONSTANT_KJ_MOL_K
    prefactor = float(np.exp(a))
    return ArrheniusFit(-b * R_kJ_mol_K, float(np.sqrt(cov[1, 1])) * R_kJ_mol_K, prefactor,
                        prefactor * float(np.sqrt(cov[0, 0])))
