"""Mean squared displacement and diffusion: direct double loop, random walks, analytic MSD, MDAnalysis."""

import numpy as np
import pytest

from ilflow.analysis import (
    AnalysisError,
    Trajectory,
    diffusion_coefficient,
    diffusion_with_error,
    msd,
    msd_fft,
)

BOX = np.diag([15.0, 16.0, 17.0])


def _direct_msd(x: np.ndarray) -> np.ndarray:
    """MSD over all origins by the O(F^2) double loop."""
    n = len(x)
    out = np.zeros(n)
    for lag in range(n):
        total = 0.0
        for origin in range(n - lag):
            total += np.sum((x[origin + lag] - x[origin]) ** 2)
        out[lag] = total / (n - lag) / x.shape[1]
    return out


def test_fft_msd_equals_the_double_loop():
    x = np.cumsum(np.random.default_rng(1).normal(size=(60, 5, 3)), axis=0) + 100.0  # far from the origin
    assert msd_fft(x) == pytest.approx(_direct_msd(x), rel=1e-9, abs=1e-9)
    per = msd_fft(x, per_particle=True)
    assert per.shape == (60, 5) and per[:, 2] == pytest.approx(_direct_msd(x[:, 2:3]), rel=1e-9, abs=1e-9)


def _random_walk(D_A2_ps: float, dt_ps: float, walkers: int, steps: int, seed: int) -> Trajectory:
    """Gaussian steps of variance 2 D dt per coordinate, wrapped into BOX (so they must be unwrapped)."""
    steps_A = np.random.default_rng(seed).normal(0.0, np.sqrt(2 * D_A2_ps * dt_ps), (steps, walkers, 3))
    true = np.cumsum(steps_A, axis=0)
    wrapped = true - np.floor(true / np.diag(BOX)) * np.diag(BOX)
    return Trajectory(wrapped, BOX, np.arange(steps) * dt_ps, np.full(walkers, 18), np.full(walkers, 40.0))


def test_random_walk_gives_its_diffusion_coefficient():
    D_true = 0.1  # Å^2/ps
    traj = _random_walk(D_true, 0.5, walkers=200, steps=2000, seed=7)
    t, y = msd(traj)
    assert y[1] == pytest.approx(6 * D_true * 0.5, rel=0.03)
    fit = diffusion_coefficient(t, y)
    # one fit over lags up to half the run scatters by about 4% between walks of this size (40 seeds tried)
    assert fit.D_A2_ps == pytest.approx(D_true, rel=0.1)
    assert fit.D_m2_s == pytest.approx(fit.D_A2_ps * 1e-20 / 1e-12)
    assert fit.diffusive and abs(fit.slope - 1) < 0.1 and fit.t_end_ps <= 0.5 * t[-1] + 1e-9
    estimate = diffusion_with_error(traj, n_blocks=5)  # scatters by about 2%
    assert len(estimate.samples) == 5
    assert abs(estimate.D_A2_ps - D_true) <= estimate.half_width_95_A2_ps
    assert estimate.D_A2_ps == pytest.approx(D_true, rel=0.05)
    assert estimate.D_m2_s == pytest.approx(estimate.D_A2_ps * 1e-8)


def test_replicas_give_an_error_bar():
    D_true = 0.05
    replicas = [_random_walk(D_true, 1.0, walkers=100, steps=500, seed=s) for s in range(4)]
    estimate = diffusion_with_error(replicas)
    assert len(estimate.samples) == 4
    assert abs(estimate.D_A2_ps - D_true) <= estimate.half_width_95_A2_ps
    assert estimate.D_A2_ps == pytest.approx(D_true, rel=0.1)


def test_window_skips_the_ballistic_start_of_an_analytic_msd():
    """Langevin particle (velocity relaxation time tau): MSD = 6 D (t - tau (1 - exp(-t / tau))), ballistic
    6 D t^2 / (2 tau) at short times, 6 D t at long times."""
    D, tau = 0.02, 2.0
    t = np.arange(0, 6001) * 0.1
    y = 6 * D * (t - tau * (1 - np.exp(-t / tau)))
    fit = diffusion_coefficient(t, y)
    assert fit.diffusive and fit.decades >= 1.0
    assert fit.t_start_ps > 5 * tau and fit.t_end_ps <= 300.0 + 1e-9
    assert fit.D_A2_ps == pytest.approx(D, rel=1e-3)
    assert fit.intercept_A2 == pytest.approx(-6 * D * tau, rel=1e-2)
    # the log-log slope 1 + tau / (t - tau) comes within 0.1 of 1 at t = 22 ps: a 200-ps series, with lags up to
    # 100 ps, has no decade of it; a decade from 22 ps needs lags to 220 ps, a 440-ps run
    short = diffusion_coefficient(t[:2001], y[:2001])
    assert not short.diffusive and short.D_A2_ps == pytest.approx(D, rel=1e-3)
    assert short.needed_ps == pytest.approx(440.0, rel=0.01)


def _caged_walkers(walkers: int, frames: int, dt_ps: float, cage_A2: float, tau_ps: float, drift_A2_ps: float,
                   seed: int) -> np.ndarray:
    """Positions (F, N, 3): each walker bound to a site by an overdamped spring (Ornstein-Uhlenbeck, variance
    cage_A2 per coordinate, relaxation time tau_ps; exact updates) while its site drifts as a slow random walk."""
    rng = np.random.default_rng(seed)
    keep = np.exp(-dt_ps / tau_ps)
    u = np.empty((frames, walkers, 3))
    u[0] = rng.normal(0.0, np.sqrt(cage_A2), (walkers, 3))
    for k in range(1, frames):
        u[k] = keep * u[k - 1] + rng.normal(0.0, np.sqrt(cage_A2 * (1 - keep**2)), (walkers, 3))
    sites = np.cumsum(rng.normal(0.0, np.sqrt(2 * drift_A2_ps * dt_ps), (frames, walkers, 3)), axis=0)
    return sites + u


def test_a_caged_walker_that_a_slope_only_test_accepts_is_not_diffusive():
    """Inside its cage a walker moves diffusively at short times (MSD = 6 cage (1 - exp(-t / tau)), slope 1 for
    t << tau) and then rattles in place; its site drifts 1000 times slower. Over a decade of the short-time regime
    the slope is 1 within 0.1, so a test of the slope alone calls it diffusive with the in-cage D. The MSD stays
    below 0.7 Å^2, far below the squared size of a small ion (BF4-, about 5 Å: 27 Å^2), and the long-time D is the
    drift's: the run needed is estimated from the apparent D, which overestimates it, so it is a lower bound."""
    dt, cage, tau, drift = 0.01, 0.1, 20.0, 1e-5
    x = _caged_walkers(200, 2000, dt, cage, tau, drift, seed=11)
    t = np.arange(2000) * dt
    y = msd_fft(x)
    slope_only = diffusion_coefficient(t, y, required_msd_A2=0.0)
    assert slope_only.diffusive and slope_only.decades >= 1.0  # the trap
    assert slope_only.D_A2_ps == pytest.approx(cage / tau, rel=0.15)  # the in-cage D, 500 x the drift's
    fit = diffusion_coefficient(t, y, required_msd_A2=27.0)
    assert not fit.diffusive and fit.msd_end_A2 < 0.7
    reach_ps = 27.0 / (6 * fit.D_A2_ps)
    assert fit.needed_ps == pytest.approx(2 * reach_ps, rel=1e-6)  # lags up to half the run
    assert fit.needed_ps < 27.0 / (6 * drift)  # a lower bound: the true long-time D is the drift's


def test_a_random_walk_is_diffusive_once_it_has_moved_its_size_and_says_how_long_otherwise():
    D = 0.1  # Å^2/ps
    traj = _random_walk(D, 0.5, walkers=200, steps=2000, seed=3)  # lags up to 500 ps: MSD up to 300 Å^2
    t, y = msd(traj)
    assert diffusion_coefficient(t, y, required_msd_A2=100.0).diffusive
    short = traj.frames(slice(0, 200))  # 100 ps: lags up to 50 ps, MSD up to 30 Å^2
    fit = diffusion_coefficient(*msd(short), required_msd_A2=100.0)
    assert not fit.diffusive
    assert fit.needed_ps == pytest.approx(2 * 100.0 / (6 * D), rel=0.15)  # 333 ps at the true D
    # blocks of 200 ps: lags up to 100 ps, MSD up to 60 Å^2; the whole run would pass 100 Å^2, its blocks do not
    assert diffusion_with_error(traj, n_blocks=5, required_msd_A2=40.0).diffusive
    assert not diffusion_with_error(traj, n_blocks=5, required_msd_A2=100.0).diffusive


def test_sub_diffusive_curve_is_flagged():
    t = np.arange(0, 1001) * 0.1
    fit = diffusion_coefficient(t, 2.0 * t**0.5)
    assert not fit.diffusive and fit.slope == pytest.approx(0.5, abs=0.01)


def test_molecule_centres_diffuse_like_their_atoms():
    """Rigid diatomics translated along random walks: the centres' MSD is the walk's MSD."""
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(0, 0.3, (300, 20, 3)), axis=0)
    offset = np.array([0.55, 0.0, 0.0])
    atoms = np.stack([walk - offset, walk + offset], axis=2).reshape(300, 40, 3)
    traj = Trajectory(atoms % 15.0, np.diag([15.0] * 3), np.arange(300.0), np.full(40, 8), np.full(40, 16.0),
                      np.repeat(np.arange(20), 2))
    t, y = msd(traj, molecules=True)
    assert y == pytest.approx(_direct_msd(walk), rel=1e-9, abs=1e-9)
    t, y_o = msd(traj, select="O")
    assert y_o == pytest.approx(y, rel=1e-9, abs=1e-9)
    assert msd(traj, select="O2", molecules=True)[1] == pytest.approx(y, rel=1e-9, abs=1e-9)
    assert msd(traj, select=[3], molecules=True)[1] == pytest.approx(_direct_msd(walk[:, 3:4]), rel=1e-9, abs=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_agrees_with_mdanalysis_einstein_msd():
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.analysis.msd import EinsteinMSD
    from MDAnalysis.coordinates.memory import MemoryReader

    x = np.cumsum(np.random.default_rng(4).normal(0, 0.5, (80, 30, 3)), axis=0).astype(np.float32)
    universe = mda.Universe.empty(30, n_residues=30, atom_resindex=np.arange(30), trajectory=True)
    universe.load_new(x, format=MemoryReader, dimensions=np.tile([200.0, 200, 200, 90, 90, 90], (80, 1)))
    reference = EinsteinMSD(universe, select="all", msd_type="xyz", fft=False).run()
    ours = msd_fft(x.astype(float))
    assert ours == pytest.approx(reference.results.timeseries, rel=1e-4, abs=1e-4)


def test_uneven_times_and_short_runs_are_refused():
    traj = _random_walk(0.1, 1.0, walkers=3, steps=20, seed=0)
    uneven = Trajectory(traj.positions, traj.cells, np.r_[0.0, np.cumsum(np.linspace(1, 2, 19))], traj.numbers,
                        traj.masses)
    with pytest.raises(AnalysisError, match="evenly spaced"):
        msd(uneven)
    with pytest.raises(AnalysisError, match="longer trajectory"):
        diffusion_coefficient(np.arange(6.0), np.arange(6.0))
    with pytest.raises(AnalysisError, match="blocks"):
        diffusion_with_error(traj, n_blocks=5)
