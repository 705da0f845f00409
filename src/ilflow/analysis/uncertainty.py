"""How far production runs stray from what the model learned: the per-frame force uncertainty of the ensemble
(eV/Å, `observables/force_uncertainty` of the H5MD trajectory) against the learning's uncertainty threshold.

A learning iteration stops its MD where the uncertainty crosses the threshold and learns from there; a
production run that keeps crossing it spends its time where the model extrapolates, and its results are
suspect. A run is flagged as extrapolating when more than `analysis.max_uncertain_fraction` of its analysed
frames (after equilibration) lie above the threshold.
"""

import logging
from pathlib import Path

import numpy as np

from ilflow.analysis.results import UncertaintyDistribution, UncertaintyStats
from ilflow.analysis.trajectory import FS_IN_PS, AnalysisError, after_equilibration
from ilflow.config.learning import Learning, MDSampler
from ilflow.production.records import RunRecord

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD_eV_A = 0.5  # MDSampler.uncertainty_threshold_eV_A's default, for a learning without MD samplers
OBSERVABLE = "observables/force_uncertainty"


def learning_threshold(learning: Learning) -> tuple[float, str]:
    """The threshold (eV/Å) and where it comes from: the smallest `uncertainty_threshold_eV_A` of the learning's
    MD samplers (the strictest the model was held to), else the default 0.5 eV/Å."""
    thresholds = [s.uncertainty_threshold_eV_A for it in learning.iterations for s in it.samplers
                  if isinstance(s, MDSampler)]
    if not thresholds:
        return DEFAULT_THRESHOLD_eV_A, "default (the learning has no MD sampler)"
    return float(min(thresholds)), "the smallest uncertainty_threshold_eV_A of the learning's MD samplers"


def read_force_uncertainty(path: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Times (ps) and the per-frame force uncertainty (eV/Å) of an H5MD trajectory; None when it stores none."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"trajectory file {path} does not exist")
    with h5py.File(path, "r") as f:
        if OBSERVABLE not in f:
            return None
        element = f[OBSERVABLE]
        values, time = np.asarray(element["value"][()], dtype=float), np.asarray(element["time"][()], dtype=float)
        unit = element["time"].attrs.get("unit", "fs")
    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    if unit != "fs":  # ilflow's writer stores fs (ilflow.md.h5md)
        raise AnalysisError(f"{path}: {OBSERVABLE}/time in {unit!r}, expected fs")
    return time * FS_IN_PS, values


def uncertainty_distribution(values: np.ndarray, threshold_eV_A: float) -> UncertaintyDistribution:
    """Frame count, percentiles (numpy's linear interpolation), maximum and fraction of frames above the threshold
    of per-frame uncertainties (eV/Å). Non-finite values make the order statistics non-finite (None in JSON)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or not len(values):
        raise AnalysisError(f"force uncertainty: a non-empty series of frames expected, got shape {values.shape}")
    p5, p25, median, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return UncertaintyDistribution(
        frames=len(values), p5_eV_A=float(p5), p25_eV_A=float(p25), median_eV_A=float(median), p75_eV_A=float(p75),
        p95_eV_A=float(p95), max_eV_A=float(np.max(values)),
        fraction_above_threshold=float(np.mean(~(values <= threshold_eV_A))))  # NaN is not <= : counted above


def run_uncertainty(folder: Path, record: RunRecord, threshold_eV_A: float,
                    max_uncertain_fraction: float) -> UncertaintyStats | None:
    """The force uncertainty of one production run over its analysed frames and over the whole run; None (logged)
    when its trajectory stores none or no frame follows the equilibration."""
    series = read_force_uncertainty(folder / record.trajectory)
    if series is None:
        logger.warning("  %s: %s has no %s; its uncertainty is not analysed", record.name, record.trajectory,
                       OBSERVABLE)
        return None
    time_ps, values = series
    analysed = values[after_equilibration(time_ps, record.equilibration_ps)]
    if not len(analysed):
        logger.warning("  %s: no force uncertainty after %g ps of equilibration", record.name, record.equilibration_ps)
        return None
    distribution = uncertainty_distribution(analysed, threshold_eV_A)
    extrapolating = distribution.fraction_above_threshold > max_uncertain_fraction
    if extrapolating:
        logger.warning("  %s extrapolates: %.1f%% of its analysed frames have a force uncertainty above %.3g eV/Å "
                       "(max %.3g eV/Å; allowed: %.1f%%, analysis.max_uncertain_fraction); learn from such structures "
                       "before trusting its results", record.name, 100 * distribution.fraction_above_threshold,
                       threshold_eV_A, distribution.max_eV_A, 100 * max_uncertain_fraction)
    return UncertaintyStats(threshold_eV_A=threshold_eV_A, analysed=distribution,
                            whole_run=uncertainty_distribution(values, threshold_eV_A),
                            extrapolating=bool(extrapolating))
