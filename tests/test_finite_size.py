"""Finite-size correction (Yeh-Hummer), extrapolation in 1/L, viscosity tables and Arrhenius fits."""

from pathlib import Path

import numpy as np
import pytest
from scipy import constants

from ilflow.analysis import (
    AnalysisError,
    arrhenius_fit,
    extrapolate_infinite_size,
    viscosity_from_table,
    yeh_hummer,
    yeh_hummer_correction_m2_s,
)

REFERENCE = Path("/work/shared/reference/bmim_bf4_viscosity.csv")


def test_yeh_hummer_term_is_the_formula():
    expected = 2.837297 * constants.k * 300.0 / (6 * np.pi * 0.1 * 20e-10)
    assert yeh_hummer_correction_m2_s(300.0, 0.1, 20.0) == pytest.approx(expected, rel=1e-12)
    assert yeh_hummer(1e-11, 300.0, 0.1, 20.0) == pytest.approx(1e-11 + expected, rel=1e-12)
    with pytest.raises(AnalysisError):
        yeh_hummer_correction_m2_s(300.0, 0.0, 20.0)


def test_extrapolation_recovers_the_infinite_size_coefficient_and_the_viscosity():
    T, eta, D_inf = 350.0, 0.02, 4e-11
    L = np.array([15.0, 20.0, 30.0, 45.0])
    D = D_inf - 2.837297 * constants.k * T / (6 * np.pi * eta * L * 1e-10)
    fit = extrapolate_infinite_size(L, D, T_K=T)
    assert fit.D_inf_m2_s == pytest.approx(D_inf, rel=1e-9)
    assert fit.viscosity_Pa_s == pytest.approx(eta, rel=1e-9)
    # noisy data with error bars: D_inf within three standard errors (the error matches a 2000-draw spread)
    rng = np.random.default_rng(2)
    errors = np.full(len(L), 0.05 * D_inf)
    noisy = extrapolate_infinite_size(L, D + rng.normal(0, errors), errors, T_K=T)
    assert abs(noisy.D_inf_m2_s - D_inf) < 3 * noisy.D_inf_error_m2_s
    assert noisy.D_inf_error_m2_s > 0 and noisy.viscosity_error_Pa_s > 0


def test_arrhenius_fit_recovers_the_activation_energy():
    Ea, D0 = 25.0, 3e-7  # kJ/mol, m^2/s
    T = np.array([298.0, 323.0, 348.0, 373.0, 398.0])
    D = D0 * np.exp(-Ea * 1e3 / (constants.R * T))
    fit = arrhenius_fit(T, D)
    assert fit.activation_energy_kJ_mol == pytest.approx(Ea, rel=1e-9)
    assert fit.prefactor == pytest.approx(D0, rel=1e-9)
    rng = np.random.default_rng(0)
    errors = 0.03 * D
    noisy = arrhenius_fit(T, D * (1 + rng.normal(0, 0.03, len(T))), errors)
    assert abs(noisy.activation_energy_kJ_mol - Ea) < 3 * noisy.activation_energy_error_kJ_mol
    assert 0 < noisy.activation_energy_error_kJ_mol < 3


def test_viscosity_table_interpolates_in_log_eta_against_inverse_temperature(tmp_path):
    # an Arrhenius-like table, eta = A exp(B / T): the interpolation is then exact between points
    T = np.array([280.0, 300.0, 330.0, 370.0])
    eta_mPa_s = 0.05 * np.exp(2000.0 / T)
    table = tmp_path / "eta.csv"
    table.write_text("# a comment line\ntemperature_K,viscosity_mPa_s\n"
                     + "".join(f"{t},{float(e)!r}\n" for t, e in zip(T[::-1], eta_mPa_s[::-1])))
    for t in (280.0, 291.0, 315.5, 369.0):
        assert viscosity_from_table(t, table) == pytest.approx(0.05e-3 * np.exp(2000.0 / t), rel=1e-9)
    assert viscosity_from_table([300.0, 330.0], table) == pytest.approx(eta_mPa_s[1:3] * 1e-3)
    for t in (278.5, 371.5):  # up to 2 K beyond the table: its end segments extended (exact for this Arrhenius table)
        assert viscosity_from_table(t, table) == pytest.approx(0.05e-3 * np.exp(2000.0 / t), rel=1e-9)
    with pytest.raises(AnalysisError, match="outside"):
        viscosity_from_table(400.0, table)
    bad = tmp_path / "bad.csv"
    bad.write_text("T,eta\n300,1\n")
    with pytest.raises(AnalysisError, match="columns"):
        viscosity_from_table(300.0, bad)


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference data not present")
def test_reference_table_of_bmim_bf4():
    assert viscosity_from_table(298.15, REFERENCE) == pytest.approx(0.103)
    # close to the VFT fit the file's header quotes, ln(eta / Pa s) = -8.3590 + 692.21 / (T - 184.49)
    for t in (300.0, 320.0, 345.0):
        assert viscosity_from_table(t, REFERENCE) == pytest.approx(np.exp(-8.3590 + 692.21 / (t - 184.49)), rel=0.06)
