"""Mean squared displacement over all time origins (FFT) and self-diffusion coefficients with error bars.

MSD(m) = 1/(F-m) sum_k |r_{k+m} - r_k|^2 = S1(m) - 2 S2(m), with S1(m) = 1/(F-m) sum_k (|r_k|^2 + |r_{k+m}|^2)
from running sums and S2(m) = 1/(F-m) sum_k r_k . r_{k+m} from an FFT autocorrelation (zero-padded to 2F):
O(F log F) per particle (Kneller, Keiner, Kneller & Schiller, Comput. Phys. Commun. 91, 191 (1995); Calandrini,
Pellegrini, Calligari, Hinsen & Kneller, Collection SFN 12, 201 (2011)).

D from the Einstein relation MSD = 6 D t + c, fitted where the motion is diffusive: the local slope
alpha(t) = d ln MSD / d ln t, taken over a sliding window of a factor 2 in t, is 1 within a tolerance
(alpha = 2 in the ballistic start, < 1 in the cage regime of liquids). Only lags up to half the run are used:
beyond that few independent origins remain and the MSD is noisy.

A slope of 1 alone does not make a run diffusive: a particle rattling in its cage moves diffusively at short
times, within the cage, and a curve crossing over from ballistic to caged passes slope 1 on its way. The fit
counts as diffusive only if the slope stays 1 over at least a decade of lag time and the MSD at the window's end
exceeds a required value, the squared size of the molecule: a molecule that has not moved its own size has not
left its neighbours (Maginn, Messerly, Carlson, Roe & Elliott, LiveCoMS 1, 6324 (2019), on transport properties
of slow liquids such as ionic liquids).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ilflow.analysis.trajectory import AnalysisError, Trajectory, molecule_centres, molecule_formulas, unwrap
from ilflow.units import A2_PS_IN_M2_S

CHUNK_VALUES = 8_000_000  # complex spectrum values held at once by msd_fft


def msd_fft(positions: np.ndarray, per_particle: bool = False) -> np.ndarray:
    """MSD (Å^2) at lags 0..F-1 of unwrapped positions (F, N, 3) Å, averaged over all time origins and, unless
    per_particle (then shape (F, N)), over the particles. Particles go in chunks to bound the FFT's memory."""
    x = np.asarray(positions, dtype=float)
    if x.ndim == 2:
        x = x[:, None, :]
    chunk = max(1, CHUNK_VALUES // (6 * len(x)))
    msd = np.concatenate([_msd_fft_chunk(x[:, k:k + chunk]) for k in range(0, x.shape[1], chunk)], axis=1)
    return msd if per_particle else msd.mean(axis=1)


def _msd_fft_chunk(x: np.ndarray) -> np.ndarray:
    """Per-particle MSD (F, n) of positions (F, n, 3)."""
    n = len(x)
    x = x - x.mean(axis=0)  # the MSD does not change; S1 - 2 S2 then cancels less
    lags = np.arange(n)[:, None]
    squares = np.sum(x**2, axis=-1)  # (F, n)
    # S1(m) (F - m) = sum_{k=0}^{F-1-m} |r_k|^2 + |r_{k+m}|^2 = 2 sum_all - (first m terms) - (last m terms)
    zero = np.zeros((1, x.shape[1]))
    head = np.concatenate([zero, np.cumsum(squares, axis=0)[:-1]])
    tail = np.concatenate([zero, np.cumsum(squares[::-1], axis=0)[:-1]])
    s1 = (2.0 * squares.sum(axis=0) - head - tail) / (n - lags)
    spectrum = np.fft.rfft(x, 2 * n, axis=0)  # zero-padded: no wrap-around in the correlation
    s2 = np.fft.irfft(np.sum(spectrum * np.conj(spectrum), axis=-1).real, 2 * n, axis=0)[:n] / (n - lags)
    return np.maximum(s1 - 2.0 * s2, 0.0)


def _positions(traj: Trajectory, select, molecules: bool) -> np.ndarray:
    """Unwrapped positions (F, n, 3) of the selected atoms, or of the selected molecules' centres of mass."""
    if molecules:
        x, _ = molecule_centres(traj)
        if select is None:
            index = np.arange(x.shape[1])
        elif isinstance(select, str):
            index = np.flatnonzero(np.array(molecule_formulas(traj)) == select)
        else:
            index = np.asarray(select, dtype=int).ravel()
        if not len(index):
            raise AnalysisError(f"the MSD selection {select!r} holds no molecules; formulas: "
                                f"{', '.join(sorted(set(molecule_formulas(traj))))}")
        return unwrap(x[:, index], traj.cells)
    if select is None:
        index = np.arange(traj.n_atoms)
    elif isinstance(select, str | int | np.integer):
        from ase.data import atomic_numbers

        z = atomic_numbers.get(select) if isinstance(select, str) else int(select)
        index = np.flatnonzero(traj.numbers == z)
    else:
        index = np.asarray(select, dtype=int).ravel()
    if not len(index):
        raise AnalysisError(f"the MSD selection {select!r} holds no atoms")
    return unwrap(traj.positions[:, index], traj.cells)


def _lags_ps(time_ps: np.ndarray) -> np.ndarray:
    steps = np.diff(time_ps)
    if len(steps) and (steps.min() <= 0 or np.ptp(steps) > 1e-6 * steps.mean()):
        raise AnalysisError("the MSD needs frames evenly spaced in time (time_ps increasing by a constant step)")
    return time_ps - time_ps[0]


def msd(traj: Trajectory, select=None, molecules: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(lag time (ps), MSD (Å^2)) over all time origins, for lags 0..F-1.

    select: None (all), an element (symbol or atomic number) or atom indices. With molecules=True the molecules'
    centres of mass are used, and select is None, a formula ('BF4', 'C8H15N2') or molecule indices (numbered by
    first atom, as molecule_formulas lists them). Positions are unwrapped first (wrapped or unwrapped input both
    work); no centre-of-mass drift is removed.
    """
    return _lags_ps(traj.time_ps), msd_fft(_positions(traj, select, molecules))


MIN_DECADES = 1.0  # the fit window of a diffusive MSD spans at least t_end / t_start = 10


@dataclass(frozen=True)
class Diffusion:
    """D from MSD = 6 D t + c over the window [t_start_ps, t_end_ps]; slope: d ln MSD / d ln t there (1 when
    diffusive); msd_end_A2: the MSD at the window's end; diffusive: slope 1 within the tolerance over at least
    MIN_DECADES and msd_end_A2 >= required_msd_A2. needed_ps: for a fit that is not diffusive, the run length
    (ps) at which an MSD growing at this D would reach required_msd_A2 over a decade within the lags used; a
    lower bound, since sub-diffusive D overestimates the long-time D (None when diffusive, or when the run is
    long enough by that count and the slope is what fails)."""

    D_A2_ps: float
    D_m2_s: float
    t_start_ps: float
    t_end_ps: float
    slope: float
    intercept_A2: float
    diffusive: bool
    msd_end_A2: float = float("nan")
    required_msd_A2: float = 0.0
    needed_ps: float | None = None

    @property
    def decades(self) -> float:
        """log10(t_end / t_start) of the fit window."""
        return float(np.log10(self.t_end_ps / self.t_start_ps))


def local_slope(time_ps: np.ndarray, msd_A2: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """alpha(t) = d ln MSD / d ln t: least-squares slope of ln MSD vs ln t over [t / sqrt(factor), t sqrt(factor)]
    (NaN at t = 0 and where the window holds fewer than 3 points)."""
    t, y = np.asarray(time_ps, dtype=float), np.asarray(msd_A2, dtype=float)
    ok = (t > 0) & (y > 0)
    lt, ly = np.log(t[ok]), np.log(y[ok])
    half = 0.5 * np.log(factor)
    lo, hi = np.searchsorted(lt, lt - half), np.searchsorted(lt, lt + half, side="right")
    # running sums give every window's regression in O(F)
    c = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(lt), lt, ly, lt * lt, lt * ly)]
    n, sx, sy, sxx, sxy = (s[hi] - s[lo] for s in c)
    denominator = n * sxx - sx**2
    slope = np.where((n >= 3) & (denominator > 0), (n * sxy - sx * sy) / np.where(denominator > 0, denominator, 1),
                     np.nan)
    out = np.full(len(t), np.nan)
    out[ok] = slope
    return out


def diffusion_coefficient(time_ps: np.ndarray, msd_A2: np.ndarray, max_fraction: float = 0.5,
                          tolerance: float = 0.1, dimensions: int = 3, required_msd_A2: float = 0.0,
                          min_decades: float = MIN_DECADES) -> Diffusion:
    """Self-diffusion coefficient from an MSD curve, fitted where it is linear.

    Lags up to max_fraction of the run are considered. Diffusive: a window of `min_decades` in t (the earliest
    one) whose log-log slope is 1 within `tolerance`, whose local slopes (local_slope) all are within twice that
    (they scatter with the MSD's noise at long lags), and whose MSD at its end reaches `required_msd_A2` (Å^2; the
    squared size of the molecule, 0 to leave it out). MSD = 2 dimensions D t + c is fitted there. Otherwise the
    apparent D is fitted over the longest stretch (in ln t) where |alpha - 1| <= tolerance, the tolerance doubled
    while that stretch is missing or spans less than a factor 1.5 in t.
    Long lags are noisy: for a random walk of 200 particles the single-fit D scatters by about 4% with
    max_fraction 0.5 and 1.5% with 0.1; diffusion_with_error gives the spread for the data at hand.
    """
    t, y = np.asarray(time_ps, dtype=float), np.asarray(msd_A2, dtype=float)
    use = np.flatnonzero((t > 0) & (t <= max_fraction * t[-1] * (1 + 1e-12)))
    if len(use) < 4:
        raise AnalysisError(f"{len(use)} MSD points with 0 < t <= {max_fraction} of the run; a diffusion "
                            "coefficient needs a longer trajectory (at least 10 frames)")
    run_ps = float(t[-1] - t[0])
    t, y = t[use], y[use]
    alpha = local_slope(t, y)
    window = _diffusive_window(t, y, alpha, tolerance, min_decades, required_msd_A2)
    lo, hi = window or _apparent_window(t, alpha, tolerance)
    fit = stats.linregress(t[lo:hi + 1], y[lo:hi + 1])
    ok = y[lo:hi + 1] > 0
    slope = stats.linregress(np.log(t[lo:hi + 1][ok]), np.log(y[lo:hi + 1][ok])).slope if ok.sum() >= 2 else np.nan
    D = fit.slope / (2 * dimensions)
    needed = None
    if window is None:  # the window must end where the MSD reaches the requirement, a decade after its start
        reach_ps = required_msd_A2 / (2 * dimensions * D) if D > 0 else np.inf
        needed = float(max(reach_ps, 10**min_decades * t[lo]) / max_fraction)
        if needed <= run_ps:  # long enough at this D: the slope is what fails, and no length can be promised
            needed = None
    return Diffusion(float(D), float(D * A2_PS_IN_M2_S), float(t[lo]), float(t[hi]), float(slope),
                     float(fit.intercept), window is not None, float(y[hi]), float(required_msd_A2), needed)


def _diffusive_window(t: np.ndarray, y: np.ndarray, alpha: np.ndarray, tolerance: float, decades: float,
                      required_msd_A2: float) -> tuple[int, int] | None:
    """(first, last) index of the earliest window spanning `decades` in t that passes the diffusive test of
    diffusion_coefficient (the most time origins per lag); None if there is none. O(F) from running sums."""
    positive = y > 0
    lt, ly = np.log(t), np.log(np.where(positive, y, 1.0))
    bad = ~positive | ~(np.abs(alpha - 1.0) <= 2 * tolerance)  # NaN slopes count as bad
    bad_before = np.concatenate([[0], np.cumsum(bad)])
    sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(lt), lt, ly, lt * lt, lt * ly)]
    starts = np.searchsorted(lt, lt - decades * np.log(10) + 1e-9, side="right") - 1  # last point a span earlier
    for hi in range(1, len(t)):
        lo = starts[hi]
        if lo < 0 or y[hi] < required_msd_A2 or bad_before[hi + 1] - bad_before[lo]:
            continue
        n, sx, sy, sxx, sxy = (s[hi + 1] - s[lo] for s in sums)
        if abs((n * sxy - sx * sy) / (n * sxx - sx**2) - 1.0) <= tolerance:
            return int(lo), int(hi)
    return None


def _apparent_window(t: np.ndarray, alpha: np.ndarray, tolerance: float) -> tuple[int, int]:
    """The longest stretch (in ln t) where |alpha - 1| is within the tolerance, doubled until the stretch spans a
    factor 1.5 in t; the later half of the lags where nothing is near slope 1."""
    lt, tol = np.log(t), tolerance
    best = _longest_run(np.abs(alpha - 1.0) <= tol, lt)
    while best is None or lt[best[1]] - lt[best[0]] < np.log(1.5):
        if tol > 1.0:
            return best or (len(t) // 2, len(t) - 1)
        tol *= 2.0
        best = _longest_run(np.abs(alpha - 1.0) <= tol, lt)
    return best


def _longest_run(good: np.ndarray, log_t: np.ndarray) -> tuple[int, int] | None:
    """(first, last) index of the run of consecutive True (3 points or more) spanning most in ln t; later wins."""
    best, span, k = None, -1.0, 0
    while k < len(good):
        if good[k]:
            end = k
            while end + 1 < len(good) and good[end + 1]:
                end += 1
            if end - k >= 2 and log_t[end] - log_t[k] >= span:
                best, span = (k, end), log_t[end] - log_t[k]
            k = end
        k += 1
    return best


@dataclass(frozen=True)
class DiffusionEstimate:
    """Mean D over independent blocks or replicas, with the Student-t 95% half width and the standard error."""

    D_A2_ps: float
    half_width_95_A2_ps: float
    standard_error_A2_ps: float
    samples: tuple[Diffusion, ...]

    @property
    def diffusive(self) -> bool:
        """Every block or replica diffusive: only then does the interval describe diffusion."""
        return all(s.diffusive for s in self.samples)

    @property
    def D_m2_s(self) -> float:
        return self.D_A2_ps * A2_PS_IN_M2_S

    @property
    def half_width_95_m2_s(self) -> float:
        return self.half_width_95_A2_ps * A2_PS_IN_M2_S

    def __str__(self) -> str:
        return f"D = {self.D_m2_s:.3g} +- {self.half_width_95_m2_s:.2g} m^2/s (95%, {len(self.samples)} samples)"


def diffusion_with_error(source: Trajectory | Sequence[Trajectory], n_blocks: int = 5, select=None,
                         molecules: bool = False, **fit) -> DiffusionEstimate:
    """D with an error bar from independent estimates: a single Trajectory is cut into n_blocks consecutive
    blocks, a list of trajectories counts as replicas (n_blocks unused). Each gives D through msd and
    diffusion_coefficient (keyword arguments `fit` go there); mean, standard error and Student-t 95% interval."""
    if isinstance(source, Trajectory):
        if n_blocks < 2 or source.n_frames // n_blocks < 10:
            raise AnalysisError(f"{source.n_frames} frames cannot be cut into {n_blocks} blocks of at least 10 frames "
                                "(n_blocks must be at least 2)")
        size = source.n_frames // n_blocks
        parts = [source.frames(slice(k * size, (k + 1) * size)) for k in range(n_blocks)]
    else:
        parts = list(source)
        if len(parts) < 2:
            raise AnalysisError("an error bar from replicas needs at least 2 trajectories")
    samples = tuple(diffusion_coefficient(*msd(part, select, molecules), **fit) for part in parts)
    values = np.array([s.D_A2_ps for s in samples])
    sem = float(np.std(values, ddof=1) / np.sqrt(len(values)))
    return DiffusionEstimate(float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * sem), sem, samples)
