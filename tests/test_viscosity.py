"""Shear viscosity against an Ornstein-Uhlenbeck stress series whose Green-Kubo integral is known."""

import numpy as np
import pytest

from ilflow.analysis import AnalysisError
from ilflow.analysis.viscosity import einstein_helfand_viscosity, green_kubo, shear_components
from synthetic_runs import ou_stress

KB = 1.380649e-23  # J/K
EV_A3_PA = 1.602176634e-19 / 1e-30


def test_shear_components_are_the_off_diagonals_and_half_differences():
    s = np.arange(9.0).reshape(1, 3, 3)
    s = 0.5 * (s + s.transpose(0, 2, 1))
    assert shear_components(s)[0] == pytest.approx([s[0, 0, 1], s[0, 0, 2], s[0, 1, 2], -2.0, -2.0])
    with pytest.raises(AnalysisError, match="shape"):
        shear_components(np.zeros((4, 6)))


@pytest.mark.parametrize("method", [green_kubo, einstein_helfand_viscosity])
def test_an_ou_stress_gives_its_known_integral_within_the_interval(method):
    variance, tau, dt = 1e-6, 0.2, 0.01  # (eV/Å^3)^2 (0.16 GPa rms), ps
    volume, T = 20.0**3, 300.0
    stress = ou_stress(200_000, dt, variance, tau, seed=4)
    expected = volume * 1e-30 * variance * EV_A3_PA**2 * tau * 1e-12 / (KB * T)  # V sigma^2 tau / kT, Pa s
    assert expected == pytest.approx(0.0099, rel=0.01)  # about 10 mPa s
    eta = method(stress, dt, volume, T)
    assert eta.diffusive and len(eta.blocks) == 5
    assert abs(eta.eta_Pa_s - expected) <= eta.half_width_95_Pa_s < 0.2 * expected
