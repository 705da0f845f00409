"""The typed records of a campaign's analysis: `AnalysisResults` is `analysis/results.json`.

Values that are not finite (e.g. the error of a fit through two points) are None in results.json: the records
that `analyze_project` returns are the ones it saved, read back.
"""

from dataclasses import dataclass, field

from ilflow.active.records import IterationRecord
from ilflow.production.records import RunRecord
from ilflow.records import Record
from ilflow.training.metrics import ErrorTable
from ilflow.units import A2_PS_IN_M2_S


@dataclass(frozen=True)
class RDFCurve(Record):
    """g(r) and the running coordination number n(r) of one pair."""

    r_A: list[float]
    g: list[float]
    n: list[float]


@dataclass(frozen=True)
class MSDCurve(Record):
    lag_ps: list[float]
    msd_A2: list[float]


@dataclass(frozen=True)
class RunDiffusion(Record):
    """The self-diffusion coefficient of one selection in one run, its fit window and MSD curve."""

    D_m2_s: float
    fit_window_ps: list[float]  # [start, end]
    log_log_slope: float | None
    diffusive: bool
    half_width_95_m2_s: float | None  # from blocks of the run (None: too short for blocks)
    error_from: str | None
    msd: MSDCurve
    required_msd_A2: float = 0.0  # the squared size of the molecule: the MSD a diffusive window reaches
    run_needed_ps: float | None = None  # not diffusive: the run length that would be, at this D (a lower bound)


@dataclass(frozen=True)
class RunConductivity(Record):
    """Ionic conductivity of one run (S/m): Nernst-Einstein from the ions' self-diffusion, Einstein-Helfand from the
    translational dipole, and their ratio, the ionicity, with 95% half widths from blocks (None: too short).
    diffusive: the dipole's fit, its blocks and every ion's self-diffusion; run_needed_ps as for RunDiffusion."""

    nernst_einstein_S_m: float
    nernst_einstein_half_width_95_S_m: float | None
    einstein_helfand_S_m: float
    einstein_helfand_half_width_95_S_m: float | None
    ionicity: float
    ionicity_half_width_95: float | None
    diffusive: bool
    run_needed_ps: float | None


@dataclass(frozen=True)
class RunViscosity(Record):
    """Shear viscosity of one run (Pa s) from its pressure-tensor series: Green-Kubo (integral cut at cutoff_ps)
    and Einstein-Helfand (None: its fit window does not fit into the blocks of a run this short), with 95% half
    widths from blocks. converged: the autocorrelation reached its noise within the lags used and Einstein-Helfand's
    fit passed the diffusive test."""

    green_kubo_Pa_s: float
    green_kubo_half_width_95_Pa_s: float
    cutoff_ps: float
    einstein_helfand_Pa_s: float | None
    einstein_helfand_half_width_95_Pa_s: float | None
    converged: bool
    samples: int
    interval_fs: float


@dataclass(frozen=True)
class BlockMean(Record):
    """The mean of a correlated series with a Student-t 95% interval from block averages."""

    mean: float
    half_width_95: float | None  # None: too short for blocks
    blocks: int
    inefficiency: float | None


@dataclass(frozen=True)
class Mean(Record):
    """A plain mean (the density of an NVT run: its box does not change)."""

    mean: float


@dataclass(frozen=True)
class DihedralDistribution(Record):
    """Distributions of one dihedral over the first `windows` fractions of a run."""

    count: int  # dihedrals per frame
    angle_deg: list[float]
    windows: list[float]
    density_per_deg: list[list[float]]


@dataclass(frozen=True)
class UncertaintyDistribution(Record):
    """The per-frame force uncertainty of some frames of a run, eV/Å: one value per saved frame, the ensemble's
    force standard deviation, max over atoms and components (paper eqn 8). Percentiles: numpy's linear ones."""

    frames: int
    p5_eV_A: float
    p25_eV_A: float
    median_eV_A: float
    p75_eV_A: float
    p95_eV_A: float
    max_eV_A: float
    fraction_above_threshold: float  # uncertainty > threshold; a non-finite value (a blow-up) counts as above


@dataclass(frozen=True)
class UncertaintyStats(Record):
    """One production run's force uncertainty against the learning threshold (`analysis.uncertainty`)."""

    threshold_eV_A: float
    analysed: UncertaintyDistribution  # after equilibration: the frames the other analyses use
    whole_run: UncertaintyDistribution  # equilibration included
    extrapolating: bool  # analysed.fraction_above_threshold > analysis.max_uncertain_fraction


@dataclass(frozen=True)
class RunAnalysis(Record):
    frames: int
    analysed_ps: float
    box_edge_A: float
    rdf: dict[str, RDFCurve]  # 'B-F', 'BMIM-BF4 (centres)', ...
    diffusion: dict[str, RunDiffusion]  # selection (element or species) -> D
    density_g_cm3: BlockMean | Mean  # NPT: block averages; NVT: the mean
    dihedrals: dict[str, DihedralDistribution]  # SMARTS -> distributions
    uncertainty: UncertaintyStats | None  # None: the trajectory stores no force uncertainty
    conductivity: RunConductivity | None = None  # None: no ions, or too few frames
    viscosity: RunViscosity | None = None  # None: no pressure-tensor series (production.runs[].stress_interval_fs)


@dataclass(frozen=True)
class AnalysedRun(Record):
    name: str
    record: RunRecord
    analysis: RunAnalysis


@dataclass(frozen=True)
class DensityRow(Record):
    run: str
    temperature_K: float
    formula_units: int
    model: str  # the run's force field
    simulated_ps: float
    density_g_cm3: float
    half_width_95_g_cm3: float | None
    blocks: int
    experiment_g_cm3: float | None
    deviation_percent: float | None


@dataclass(frozen=True)
class DiffusionRow(Record):
    run: str
    selection: str
    temperature_K: float
    formula_units: int
    ensemble: str
    box_edge_A: float
    simulated_ps: float
    D_m2_s: float
    half_width_95_m2_s: float | None
    diffusive: bool
    viscosity_Pa_s: float | None  # experimental, at the run's temperature
    D_yeh_hummer_m2_s: float | None  # None where not diffusive: a correction of an artefact would look like a result
    run_needed_ps: float | None = None  # not diffusive: the run length that would be, at this D (a lower bound)
    # with the run's own Green-Kubo viscosity (where converged) instead of the experimental one
    D_yeh_hummer_own_viscosity_m2_s: float | None = None


@dataclass(frozen=True)
class ConductivityRow(Record):
    run: str
    temperature_K: float
    formula_units: int
    simulated_ps: float
    conductivity: RunConductivity
    experiment_S_m: float | None  # at the run's temperature, from the experimental table


@dataclass(frozen=True)
class ViscosityRow(Record):
    run: str
    temperature_K: float
    formula_units: int
    viscosity: RunViscosity
    experiment_Pa_s: float | None  # at the run's temperature, from the experimental table


@dataclass(frozen=True)
class SizeExtrapolationRow(Record):
    """D over 1/L of one selection at one temperature, extrapolated to infinite size."""

    selection: str
    temperature_K: float
    formula_units: list[int]
    D_inf_m2_s: float
    D_inf_error_m2_s: float | None
    viscosity_from_slope_Pa_s: float | None


@dataclass(frozen=True)
class ArrheniusRow(Record):
    selection: str
    temperatures_K: list[float]
    D_m2_s: list[float]
    source: str = field(metadata={"key": "from"})  # which D: extrapolated, Yeh-Hummer corrected or periodic box
    activation_energy_kJ_mol: float
    activation_energy_error_kJ_mol: float | None  # None: two temperatures


@dataclass(frozen=True)
class ExperimentalDiffusion(Record):
    temperature_K: float
    selection: str
    D_m2_s: float


@dataclass(frozen=True)
class Experiment(Record):
    """The experimental tables the analysis compared with."""

    density_csv: str | None
    viscosity_csv: str | None
    diffusion: list[ExperimentalDiffusion]
    conductivity_csv: str | None = None


@dataclass(frozen=True)
class SpeedRow(Record):
    run: str
    atoms: int
    model: str  # the run's force field
    ensemble: str
    ns_per_day: float


@dataclass(frozen=True)
class FinalModelRow(Record):
    """A final model as production uses it: its labels (in words), run-time D3, training set size and errors
    against its own labels."""

    name: str
    labels: str
    run_time_d3: str | None
    train_frames: int
    validation: ErrorTable
    test: ErrorTable | None


@dataclass(frozen=True)
class ProductionUncertainty(Record):
    """The threshold the production runs' uncertainty is measured against, and the runs flagged as extrapolating."""

    threshold_eV_A: float
    threshold_from: str  # which campaign setting gave the threshold
    max_uncertain_fraction: float  # analysis.max_uncertain_fraction
    extrapolating: list[str]  # names of the runs with more analysed frames above the threshold than that


@dataclass(frozen=True)
class LearningSummary(Record):
    """The learning history, the last learning ensemble's error tables (`ilflow.training.metrics.error_table`)
    and the final models."""

    history: list[IterationRecord]
    final_model: str | None
    validation: ErrorTable | None
    test: ErrorTable | None
    train_frames: int
    figures: dict[str, str]  # 'history', 'parity' -> path
    reference: str = ""  # what the labels are, with their dispersion
    final_models: list[FinalModelRow] = field(default_factory=list)


@dataclass(frozen=True)
class Units(Record):
    D: str = "m^2/s"
    density: str = "g/cm^3"
    viscosity: str = "Pa s"
    conductivity: str = "S/m"
    time: str = "ps"
    r: str = "Å"
    activation_energy: str = "kJ/mol"
    A2_ps_in_m2_s: float = A2_PS_IN_M2_S


@dataclass(frozen=True)
class AnalysisResults(Record):
    campaign: str
    notes: list[str]
    learning: LearningSummary
    runs: list[AnalysedRun]
    density: list[DensityRow]
    diffusion: list[DiffusionRow]
    diffusion_extrapolated: list[SizeExtrapolationRow]
    arrhenius: list[ArrheniusRow]
    conductivity: list[ConductivityRow]
    viscosity: list[ViscosityRow]
    experiment: Experiment
    speed: list[SpeedRow]
    uncertainty: ProductionUncertainty
    units: Units
    figures: dict[str, str]  # figure name ('rdf', 'msd', ...) -> file name in the analysis directory
    # the 3D view's scene (analysis/scene.py), a file name in the analysis directory; None: nothing to show
    scene: str | None = field(default=None, kw_only=True)
