"""Error bars of time series from MD: statistical inefficiency and block averages.

statistical_inefficiency: g = 1 + 2 sum_t (1 - t/N) C(t), summed until the normalised autocorrelation C(t)
first drops to zero or below (Chodera et al., J. Chem. Theory Comput. 3, 26 (2007)); N/g samples are
effectively independent. block_average: the series cut into blocks at least 2g long, mean and Student-t
interval from the spread of the block means (Flyvbjerg & Petersen, J. Chem. Phys. 91, 461 (1989)). Blocks
are at least 10 g long (block means of shorter blocks are still correlated when the autocorrelation has a
long tail, which the first-zero cut of g misses) and there are between 5 and 20 of them.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation C(t), t = 0..N-1, from an FFT (zero-padded, unbiased per lag)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n] / np.arange(n, 0, -1)
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def statistical_inefficiency(x: np.ndarray) -> float:
    """g >= 1: the number of consecutive samples that count as one independent sample."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return 1.0
    c = autocorrelation(x)
    t = np.arange(1, n)
    stop = np.flatnonzero(c[1:] <= 0)
    end = stop[0] if len(stop) else n - 1
    return float(max(1.0, 1.0 + 2.0 * np.sum((1.0 - t[:end] / n) * c[1:end + 1])))


@dataclass(frozen=True)
class BlockAverage:
    mean: float
    half_width_95: float  # Student-t 95% interval: mean +- half_width_95
    standard_error: float
    blocks: int
    inefficiency: float

    def __str__(self) -> str:
        return f"{self.mean:.4g} +- {self.half_width_95:.2g} (95%, {self.blocks} blocks)"


def block_average(x: np.ndarray, min_blocks: int = 5, max_blocks: int = 20) -> BlockAverage:
    """Mean of a correlated series with a 95% interval from block means; blocks at least 10 g samples long.
    Fewer than `min_blocks` such blocks: `min_blocks` blocks anyway (the interval is then optimistic)."""
    x = np.asarray(x, dtype=float)
    g = statistical_inefficiency(x)
    if len(x) < 2 * min_blocks:  # too short for blocks: the mean, no interval
        return BlockAverage(float(np.mean(x)), float("nan"), float("nan"), 1, g)
    blocks = int(np.clip(len(x) // max(1, int(np.ceil(10 * g))), min_blocks, max_blocks))
    blocks = max(2, min(blocks, len(x)))
    size = len(x) // blocks
    means = x[len(x) - blocks * size:].reshape(blocks, size).mean(axis=1)  # drop the oldest remainder
    sem = float(np.std(means, ddof=1) / np.sqrt(blocks))
    return BlockAverage(float(np.mean(x)), float(stats.t.ppf(0.975, blocks - 1) * sem), sem, blocks, g)


def decorrelated_indices(x: np.ndarray, wanted: int | None = None) -> np.ndarray:
    """Indices of samples at least ceil(g) apart, counted back from the last one; with `wanted`, at most
    that many, spread evenly over the whole series if more are decorrelated."""
    n = len(x)
    stride = int(np.ceil(statistical_inefficiency(x)))
    picks = np.arange(n - 1, -1, -stride)[::-1]
    if wanted is not None and len(picks) > wanted:
        picks = picks[np.round(np.linspace(0, len(picks) - 1, wanted)).astype(int)]
    return picks
