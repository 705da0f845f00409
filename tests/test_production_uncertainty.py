"""Production uncertainty: statistics of the per-frame force uncertainty of a run against the learning threshold,
the extrapolation flag, and the records' JSON round trip."""

import logging

import h5py
import numpy as np
import pytest

from ilflow.analysis.results import UncertaintyStats
from ilflow.analysis.uncertainty import learning_threshold, run_uncertainty, uncertainty_distribution
from ilflow.config.learning import ConformerSampler, Iteration, Learning, MDSampler, RelaxSampler
from ilflow.config.production import Analysis

from synthetic_runs import synthetic_run

EQUILIBRATION_FRAMES = 10  # synthetic runs: frames every 0.1 ps, the first 1 ps (frames 0-9) is equilibration
MAX_FRACTION = Analysis().max_uncertain_fraction


def test_threshold_is_the_smallest_of_the_md_samplers_else_half_an_eV_per_A():
    learning = Learning(iterations=[
        Iteration(samplers=[MDSampler(kind="md", uncertainty_threshold_eV_A=0.3),
                            RelaxSampler(kind="relax", uncertainty_threshold_eV_A=0.1)]),  # not an MD sampler
        Iteration(samplers=[MDSampler(kind="md", uncertainty_threshold_eV_A=0.2)])])
    assert learning_threshold(learning)[0] == 0.2
    no_md = Learning(iterations=[Iteration(samplers=[ConformerSampler(kind="conformers")])])
    assert learning_threshold(no_md)[0] == 0.5
    assert learning_threshold(Learning())[0] == 0.5
    assert MAX_FRACTION == 0.01


def test_distribution_of_a_known_series():
    """0.01, 0.02, ..., 1.00 eV/Å: median 0.505, 95th percentile 0.9505 (linear between 0.95 and 0.96 at 94.05 of
    99 intervals), 50 of 100 frames above 0.5 eV/Å; a non-finite frame counts as above the threshold."""
    d = uncertainty_distribution(np.arange(1, 101) / 100, 0.5)
    assert (d.frames, d.max_eV_A, d.fraction_above_threshold) == (100, 1.0, 0.5)
    assert d.median_eV_A == pytest.approx(0.505, abs=1e-12)
    assert d.p95_eV_A == pytest.approx(0.9505, abs=1e-12)
    assert uncertainty_distribution(np.array([0.1, 0.2, np.nan, 0.3]), 0.5).fraction_above_threshold == 0.25


def test_statistics_of_a_synthetic_trajectory_equal_numpys(tmp_path):
    rng = np.random.default_rng(7)
    u = rng.lognormal(np.log(0.1), 1.0, 400)  # a long tail: some frames above 0.3 eV/Å
    u[:EQUILIBRATION_FRAMES] = 5.0  # an uncertain start that the analysed frames leave out
    record = synthetic_run(tmp_path / "run", "nvt", 353.0, 0.05, 1, uncertainty_eV_A=u)["record"]
    stats = run_uncertainty(tmp_path / "run", record, 0.3, MAX_FRACTION)
    analysed = u[EQUILIBRATION_FRAMES:]
    for d, values in ((stats.analysed, analysed), (stats.whole_run, u)):
        assert d.frames == len(values)
        assert d.median_eV_A == pytest.approx(np.median(values), rel=1e-12)
        for name, q in (("p5_eV_A", 5), ("p25_eV_A", 25), ("p75_eV_A", 75), ("p95_eV_A", 95)):
            assert getattr(d, name) == pytest.approx(np.percentile(values, q), rel=1e-12)
        assert d.max_eV_A == np.max(values)
        assert d.fraction_above_threshold == np.count_nonzero(values > 0.3) / len(values)
    assert stats.whole_run.max_eV_A == 5.0 and stats.analysed.max_eV_A < 5.0
    assert stats.threshold_eV_A == 0.3
    assert UncertaintyStats.load(stats.save(tmp_path / "stats.json")) == stats  # the JSON round trip


def _with_frames_above(count: int, rng) -> np.ndarray:
    """400 frames below 0.5 eV/Å, the equilibration ones all above it, and `count` analysed ones above it."""
    u = rng.uniform(0.01, 0.45, 400)
    u[:EQUILIBRATION_FRAMES] = 0.8
    u[rng.choice(np.arange(EQUILIBRATION_FRAMES, 400), count, replace=False)] = 0.9
    return u


def test_runs_above_the_allowed_fraction_are_flagged_and_logged(tmp_path, caplog):
    rng = np.random.default_rng(3)
    over = synthetic_run(tmp_path / "over", "nvt", 353.0, 0.05, 1, uncertainty_eV_A=_with_frames_above(8, rng))
    under = synthetic_run(tmp_path / "under", "nvt", 300.0, 0.05, 2, uncertainty_eV_A=_with_frames_above(3, rng))
    with caplog.at_level(logging.WARNING, logger="ilflow.analysis.uncertainty"):
        flagged = run_uncertainty(tmp_path / "over", over["record"], 0.5, MAX_FRACTION)
        kept = run_uncertainty(tmp_path / "under", under["record"], 0.5, MAX_FRACTION)
    assert flagged.analysed.fraction_above_threshold == 8 / 390 and flagged.extrapolating  # 2.1% > 1%
    assert kept.analysed.fraction_above_threshold == 3 / 390 and not kept.extrapolating  # 0.8% <= 1%
    # the equilibration's uncertain frames count in the whole run (13/400 > 1%) but not in the flag
    assert kept.whole_run.fraction_above_threshold == 13 / 400
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and over["record"].name in warnings[0] and "extrapolates" in warnings[0]


def test_a_trajectory_without_uncertainty_gives_none(tmp_path, caplog):
    record = synthetic_run(tmp_path / "run", "nvt", 353.0, 0.05, 1)["record"]
    with h5py.File(tmp_path / "run" / record.trajectory, "a") as f:
        del f["observables/force_uncertainty"]  # as other H5MD writers leave it
    with caplog.at_level(logging.WARNING, logger="ilflow.analysis.uncertainty"):
        assert run_uncertainty(tmp_path / "run", record, 0.5, MAX_FRACTION) is None
    assert "force_uncertainty" in caplog.text
