"""Error bars of correlated series: statistical inefficiency and block averages of AR(1) processes."""

import numpy as np
import pytest
from scipy.signal import lfilter

from ilflow.analysis.statistics import block_average, decorrelated_indices, statistical_inefficiency


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(size=n)
    return lfilter([1.0], [1.0, -phi], noise)  # x_t = phi x_(t-1) + e_t, var(e) = 1


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_ar1_inefficiency_and_standard_error_are_analytic(phi):
    """g = (1 + phi) / (1 - phi); SE of the mean = sqrt(g var(x) / N) with var(x) = 1 / (1 - phi^2)."""
    n = 200_000
    x = _ar1(phi, n, seed=int(phi * 10))
    g = (1 + phi) / (1 - phi)
    assert statistical_inefficiency(x) == pytest.approx(g, rel=0.1)
    analytic = np.sqrt(g / (1 - phi**2) / n)
    estimates = [block_average(_ar1(phi, n, seed=s)).standard_error for s in range(20)]
    assert np.mean(estimates) == pytest.approx(analytic, rel=0.15)
    means = [block_average(_ar1(phi, n, seed=s)).mean for s in range(20)]
    assert np.std(means, ddof=1) == pytest.approx(analytic, rel=0.4)  # the spread of independent runs


def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    hits = [abs(r.mean) <= r.half_width_95 for r in (block_average(_ar1(0.8, 20_000, seed=s)) for s in range(200))]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_decorrelated_frames_are_spaced_by_the_inefficiency():
    x = _ar1(0.9, 5000, seed=1)
    picks = decorrelated_indices(x)
    assert picks[-1] == 4999 and np.all(np.diff(picks) == int(np.ceil(statistical_inefficiency(x))))
    assert len(decorrelated_indices(x, wanted=10)) == 10


def test_too_short_a_series_gives_the_mean_without_an_interval():
    result = block_average(np.array([1.0, 2.0, 4.0]))
    assert result.mean == pytest.approx(7 / 3) and np.isnan(result.half_width_95) and result.blocks == 1
