"""`ilflow analyze`: every analysis of a campaign's project -> `analysis/results.json` and figures.

Per production run (equilibration left out): RDFs of all element pairs and of molecular centres, MSDs and
self-diffusion coefficients with error bars (blocks, or seeds as replicas) where the run is diffusive, the ionic
conductivity (Nernst-Einstein, Einstein-Helfand, ionicity) of runs with ions, the shear viscosity of runs that wrote
their pressure tensor, NPT density by block averaging, dihedral distributions over growing windows, the force
uncertainty against the learning threshold (also over the whole run; `ilflow.analysis.uncertainty`). Across runs
(`ilflow.analysis.tables`): density, conductivity and viscosity against experiment, the Yeh-Hummer correction with
the experimental viscosity and with the run's own, extrapolation over 1/L when there are several sizes, and
Arrhenius fits. Plus the learning history, the final model's test errors and the MD speed.
The results are typed records (`ilflow.analysis.results`).
"""

import dataclasses
import logging
from pathlib import Path

import numpy as np

from ilflow.analysis import experiment, tables
from ilflow.analysis.conductivity import einstein_helfand, nernst_einstein_S_m
from ilflow.analysis.dihedrals import distributions_over_windows, trajectory_dihedrals
from ilflow.analysis.msd import diffusion_coefficient, diffusion_with_error, msd
from ilflow.analysis.rdf import RDF, all_element_pairs, max_cutoff_A, molecular_rdf
from ilflow.analysis.results import (
    AnalysedRun,
    AnalysisResults,
    BlockMean,
    DihedralDistribution,
    FinalModelRow,
    Experiment,
    LearningSummary,
    Mean,
    MSDCurve,
    ProductionUncertainty,
    RDFCurve,
    RunAnalysis,
    RunConductivity,
    RunDiffusion,
    RunViscosity,
    Units,
)
from ilflow.analysis.statistics import block_average
from ilflow.analysis.trajectory import (
    AnalysisError,
    Trajectory,
    after_equilibration,
    molecule_formulas,
    molecule_ids,
    molecule_sizes_A,
    read_h5md,
)
from ilflow.analysis.uncertainty import learning_threshold, run_uncertainty
from ilflow.production.records import RunRecord
from ilflow.units import density_g_cm3

logger = logging.getLogger(__name__)

MIN_DIFFUSION_FRAMES = 20  # fewer frames after equilibration: no diffusion coefficient
SCENE = "scene.json"
# besides the scene, the report holds the 3D viewer's script (0.55 MB) and its figures (0.1-0.3 MB each); the scene
# gets 80% of the report's size limit less the script here, and the report thins it further if the rest needs more
SCENE_SHARE, VIEWER_SCRIPT_BYTES = 0.8, 600_000


def load_run(folder: Path, record: RunRecord) -> Trajectory:
    """The production trajectory of a run without its equilibration part (molecule ids from its packed box)."""
    from ilflow.io import read_frames

    template = read_frames(folder / record.structure)[0]
    traj = read_h5md(folder / record.trajectory, template)
    return traj.frames(after_equilibration(traj.time_ps, record.equilibration_ps))


def species_of_formula(folder: Path, record: RunRecord) -> dict[str, str]:
    """Molecule formula -> species name (e.g. 'C8H15N2' -> 'BMIM') from the packed box's arrays."""
    from ase.formula import Formula
    from ilflow.io import read_frames

    atoms = read_frames(folder / record.structure)[0]
    names = {}
    for m in np.unique(atoms.arrays["molecule_id"]):
        index = np.flatnonzero(atoms.arrays["molecule_id"] == m)
        formula = Formula.from_list(atoms[index].get_chemical_symbols()).format("hill")
        names[formula] = str(atoms.arrays["species_name"][index[0]]) if "species_name" in atoms.arrays else formula
    return names


def required_msd_A2(traj: Trajectory, select, molecules: bool) -> float:
    """The squared van der Waals extent (Å^2) of the largest molecule in the selection (a formula with
    molecules=True, else an element symbol): the MSD a diffusive fit window must reach."""
    ids = molecule_ids(traj)
    sizes = molecule_sizes_A(traj)
    if molecules:
        chosen = [m for m, formula in enumerate(molecule_formulas(traj)) if formula == select]
    else:
        from ase.data import atomic_numbers

        chosen = np.unique(ids[traj.numbers == atomic_numbers[select]])
    return float(np.max(sizes[chosen]) ** 2)


def _diffusion(traj: Trajectory, select, molecules: bool) -> RunDiffusion:
    """D (m^2/s) with a 95% interval from blocks (when the run is long enough), the fit window and MSD curve.
    Diffusive only if the whole run's fit and every block's are (see ilflow.analysis.msd); otherwise the run
    length needed at the apparent D: a block must reach what the whole run must."""
    required = required_msd_A2(traj, select, molecules)
    lag_ps, curve = msd(traj, select, molecules)
    fit = diffusion_coefficient(lag_ps, curve, required_msd_A2=required)
    diffusive, needed_ps = fit.diffusive, fit.needed_ps
    half_width, error_from = None, None
    blocks = min(5, traj.n_frames // 10)
    if blocks >= 2:
        estimate = diffusion_with_error(traj, blocks, select, molecules, required_msd_A2=required)
        half_width, error_from = estimate.half_width_95_m2_s, f"{blocks} blocks"
        if diffusive and not estimate.diffusive:
            diffusive = False
            needed = [s.needed_ps for s in estimate.samples if s.needed_ps is not None]
            needed_ps = blocks * max(needed) if needed else None
    return RunDiffusion(D_m2_s=fit.D_m2_s, fit_window_ps=[fit.t_start_ps, fit.t_end_ps], log_log_slope=fit.slope,
                        diffusive=diffusive, half_width_95_m2_s=half_width, error_from=error_from,
                        msd=MSDCurve(lag_ps=lag_ps.tolist(), msd_A2=curve.tolist()), required_msd_A2=required,
                        run_needed_ps=needed_ps)


def molecule_charges_e(folder: Path, record: RunRecord, traj: Trajectory) -> np.ndarray:
    """Formal charge (e) of every molecule of a run, in molecule order, from its packed box (set from the SMILES)."""
    from ilflow.io import read_frames

    charges = read_frames(folder / record.structure)[0].get_initial_charges()
    return np.bincount(molecule_ids(traj), weights=charges)


def _conductivity(traj: Trajectory, charges_e: np.ndarray, temperature_K: float,
                  diffusion: dict[str, RunDiffusion], names: dict[str, str]) -> RunConductivity:
    """Nernst-Einstein (from the ions' self-diffusion, computed here unless `diffusion` has it) and Einstein-Helfand
    conductivity of a run, the ionicity, and whether all of it is diffusive. Half widths: NE from the ions' D in
    quadrature, the ionicity from both relative half widths in quadrature."""
    ions: dict[tuple[str, float], int] = {}  # (formula, charge) -> count
    for formula, q in zip(molecule_formulas(traj), charges_e):
        if q:
            ions[(formula, float(q))] = ions.get((formula, float(q)), 0) + 1
    D = {f: diffusion.get(names.get(f, f)) or _diffusion(traj, f, True) for f, _ in ions}
    counts, charges = list(ions.values()), [q for _, q in ions]
    volume_A3 = float(np.mean(traj.volumes_A3))
    ne = nernst_einstein_S_m([D[f].D_m2_s for f, _ in ions], counts, charges, volume_A3, temperature_K)
    widths = [D[f].half_width_95_m2_s for f, _ in ions]
    ne_half = None if None in widths else nernst_einstein_S_m(
        [float(np.sqrt(sum((n * q**2 * w) ** 2 for n, q, w in zip(counts, charges, widths))))], [1], [1],
        volume_A3, temperature_K)
    eh = einstein_helfand(traj, charges_e, temperature_K, n_blocks=min(5, traj.n_frames // 10))
    ratio = eh.sigma_S_m / ne if ne > 0 else float("nan")
    ratio_half = None
    if ne_half is not None and eh.half_width_95_S_m is not None and ne > 0 and eh.sigma_S_m > 0:
        ratio_half = abs(ratio) * float(np.hypot(eh.half_width_95_S_m / eh.sigma_S_m, ne_half / ne))
    needed = [d.run_needed_ps for d in D.values() if d.run_needed_ps is not None]
    if eh.fit.needed_ps is not None:
        needed.append(eh.fit.needed_ps)
    diffusive = eh.diffusive and all(d.diffusive for d in D.values())
    return RunConductivity(nernst_einstein_S_m=ne, nernst_einstein_half_width_95_S_m=ne_half,
                           einstein_helfand_S_m=eh.sigma_S_m, einstein_helfand_half_width_95_S_m=eh.half_width_95_S_m,
                           ionicity=ratio, ionicity_half_width_95=ratio_half, diffusive=diffusive,
                           run_needed_ps=max(needed) if needed and not diffusive else None)


def _viscosity(folder: Path, record: RunRecord, volume_A3: float) -> RunViscosity | None:
    """Green-Kubo and Einstein-Helfand shear viscosity from the run's pressure-tensor series after the
    equilibration; None without a series, or one too short for 5 blocks (logged)."""
    from ilflow.analysis.viscosity import einstein_helfand_viscosity, green_kubo
    from ilflow.md.h5md import pressure_tensor_series

    series = pressure_tensor_series(folder / record.trajectory)
    if series is None:
        return None
    _, time_fs, tensors = series
    keep = after_equilibration(time_fs * 1e-3, record.equilibration_ps)
    if len(keep) < 2:
        return None
    dt_ps = float(np.median(np.diff(time_fs[keep]))) * 1e-3
    try:
        gk = green_kubo(tensors[keep], dt_ps, volume_A3, record.temperature_K)
    except AnalysisError as exc:
        logger.info("  %s: no viscosity (%s)", record.name, exc)
        return None
    try:
        eh = einstein_helfand_viscosity(tensors[keep], dt_ps, volume_A3, record.temperature_K)
    except AnalysisError as exc:  # the fit window is longer than a block: Green-Kubo alone
        logger.info("  %s: no Einstein-Helfand viscosity (%s)", record.name, exc)
        eh = None
    return RunViscosity(green_kubo_Pa_s=gk.eta_Pa_s, green_kubo_half_width_95_Pa_s=gk.half_width_95_Pa_s,
                        cutoff_ps=gk.cutoff_ps, einstein_helfand_Pa_s=None if eh is None else eh.eta_Pa_s,
                        einstein_helfand_half_width_95_Pa_s=None if eh is None else eh.half_width_95_Pa_s,
                        converged=gk.diffusive and eh is not None and eh.diffusive, samples=len(keep),
                        interval_fs=dt_ps * 1e3)


def _curve(f: RDF) -> RDFCurve:
    return RDFCurve(r_A=f.r_A.tolist(), g=f.g.tolist(), n=f.n.tolist())


def analyze_run(folder: Path, record: RunRecord, settings, threshold_eV_A: float) -> RunAnalysis:
    """All per-run analyses of one production run (see the module docstring); `threshold_eV_A`: the learning's
    force uncertainty threshold (eV/Å)."""
    traj = load_run(folder, record)
    if traj.n_frames < 2:
        raise AnalysisError(f"{folder}: fewer than 2 frames after {record.equilibration_ps} ps of equilibration")
    names = species_of_formula(folder, record)
    r_max = settings.rdf_range_A or max_cutoff_A(traj.cells)
    r_max = min(r_max, max_cutoff_A(traj.cells))
    rdfs = {label: _curve(f) for label, f in all_element_pairs(traj, r_max, settings.rdf_bins).items()}
    formulas = sorted(set(molecule_formulas(traj)))
    for i, a in enumerate(formulas):
        for b in formulas[i:]:
            rdfs[f"{names.get(a, a)}-{names.get(b, b)} (centres)"] = _curve(
                molecular_rdf(traj, (a, b), r_max, settings.rdf_bins))
    diffusion, conductivity = {}, None
    if traj.n_frames >= MIN_DIFFUSION_FRAMES:
        for selection in settings.msd_selections:
            if selection == "molecules":
                for formula in formulas:
                    diffusion[names.get(formula, formula)] = _diffusion(traj, formula, True)
            elif selection in {str(s) for s in _symbols(traj)}:
                diffusion[selection] = _diffusion(traj, selection, False)
        charges = molecule_charges_e(folder, record, traj)
        if np.any(charges != 0):
            conductivity = _conductivity(traj, charges, record.temperature_K, diffusion, names)
    density = density_g_cm3(float(np.sum(traj.masses)), traj.volumes_A3)
    dihedrals = {}
    for smarts in settings.dihedral_smarts:
        try:
            quadruples, angles = trajectory_dihedrals(traj, smarts)
        except AnalysisError:
            continue
        centres, densities = distributions_over_windows(angles)
        dihedrals[smarts] = DihedralDistribution(count=int(len(quadruples)), angle_deg=centres.tolist(),
                                                 windows=[0.1, 0.25, 0.5, 1.0], density_per_deg=densities.tolist())
    return RunAnalysis(frames=traj.n_frames, analysed_ps=float(traj.time_ps[-1] - traj.time_ps[0]),
                       box_edge_A=float(np.mean(traj.volumes_A3) ** (1 / 3)), rdf=rdfs, diffusion=diffusion,
                       density_g_cm3=_block(density) if record.ensemble == "npt" else Mean(float(np.mean(density))),
                       dihedrals=dihedrals,
                       uncertainty=run_uncertainty(folder, record, threshold_eV_A, settings.max_uncertain_fraction),
                       conductivity=conductivity,
                       viscosity=_viscosity(folder, record, float(np.mean(traj.volumes_A3))))


def _symbols(traj: Trajectory) -> set[str]:
    from ase.data import chemical_symbols

    return {chemical_symbols[z] for z in np.unique(traj.numbers)}


def _block(series: np.ndarray) -> BlockMean:
    b = block_average(series)  # too short for blocks: the mean with a NaN interval (None in results.json)
    return BlockMean(mean=b.mean, half_width_95=b.half_width_95, blocks=b.blocks, inefficiency=b.inefficiency)


def learning_summary(campaign, project) -> LearningSummary:
    """The learning history, the last learning ensemble's validation and test errors, and the final models."""
    from ilflow.active.final import load_final_records
    from ilflow.active.loop import load_history
    from ilflow.active.records import TrainingRecord

    model, _ = project.final_model()
    final = TrainingRecord.load(model.parent / "training.json")
    records = {r.name: r for r in load_final_records(campaign, project)}
    finals = []
    for m in campaign.final_models:
        trained = records.get(m.of or m.name)
        if trained is not None:
            finals.append(FinalModelRow(name=m.name, labels=trained.labels if not m.of else f"the ensemble of {m.of}",
                                        run_time_d3=m.run_time_d3.describe() if m.run_time_d3 else None,
                                        train_frames=trained.train_frames, validation=trained.validation,
                                        test=trained.test))
    return LearningSummary(history=load_history(project), final_model=str(model), validation=final.validation,
                           test=final.test, train_frames=final.train_frames,
                           figures={"history": str(project.history_path.with_suffix(".png")),
                                    "parity": str(model / "parity_validation.png")},
                           reference=campaign.reference.label_dispersion().description, final_models=finals)


def analyze_project(campaign, runs: list[tuple[Path, RunRecord]], learning: LearningSummary,
                    out_dir: Path, build_box: Path | None = None) -> AnalysisResults:
    """Analyse the campaign's production runs (`runs`: (directory, RunRecord) pairs) with the learning summary;
    writes results.json, the figures and the 3D scene (the build box and the longest run) into `out_dir` and returns
    the results as saved (NaN as None)."""
    from ilflow.analysis import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    settings = campaign.analysis
    threshold_eV_A, threshold_from = learning_threshold(campaign.learning)
    analysed = []
    for folder, record in runs:
        try:
            analysis = analyze_run(folder, record, settings, threshold_eV_A)
        except AnalysisError as exc:
            logger.warning("  %s: not analysed (%s)", record.name, exc)
            continue
        analysed.append(AnalysedRun(name=record.name, record=record, analysis=analysis))
    density_csv = experiment.table_for("density", settings.experimental_density_csv, campaign.species)
    viscosity_csv = experiment.table_for("viscosity", settings.experimental_viscosity_csv, campaign.species)
    conductivity_csv = experiment.table_for("conductivity", settings.experimental_conductivity_csv, campaign.species)
    diffusion = tables.diffusion_table(analysed, viscosity_csv)
    extrapolated = tables.size_extrapolations(diffusion)
    results = AnalysisResults(
        campaign=campaign.name,
        notes=tables.rough_notes(analysed, campaign.reference.label_dispersion().description),
        learning=learning,
        runs=analysed,
        density=tables.density_table(analysed, density_csv),
        diffusion=diffusion,
        diffusion_extrapolated=extrapolated,
        arrhenius=tables.arrhenius(diffusion, extrapolated),
        conductivity=tables.conductivity_table(analysed, conductivity_csv),
        viscosity=tables.viscosity_table(analysed, viscosity_csv),
        experiment=Experiment(density_csv=str(density_csv) if density_csv else None,
                              viscosity_csv=str(viscosity_csv) if viscosity_csv else None,
                              diffusion=tables.experimental_diffusion(settings.experimental_diffusion_csv),
                              conductivity_csv=str(conductivity_csv) if conductivity_csv else None),
        speed=tables.speed_table(analysed),
        uncertainty=ProductionUncertainty(
            threshold_eV_A=threshold_eV_A, threshold_from=threshold_from,
            max_uncertain_fraction=settings.max_uncertain_fraction,
            extrapolating=[r.name for r in analysed
                           if r.analysis.uncertainty is not None and r.analysis.uncertainty.extrapolating]),
        units=Units(),
        figures={},
    )
    scene = _scene(runs, analysed, build_box, out_dir / SCENE, settings.viewer_max_MB)
    results = dataclasses.replace(results, figures=plots.all_figures(results, out_dir),
                                  scene=None if scene is None else scene.name)
    return AnalysisResults.load(results.save(out_dir / "results.json"))


def _scene(runs: list[tuple[Path, RunRecord]], analysed: list[AnalysedRun], build_box: Path | None, path: Path,
           max_MB: float) -> Path | None:
    """The 3D view's scene: the build box and the analysed run with the most frames, sized for a report of at most
    max_MB (the report thins it further to fit what else it holds)."""
    from ilflow.analysis.scene import write_scene
    from ilflow.io import read_frames

    folders = {record.name: folder for folder, record in runs}
    longest = max(analysed, key=lambda r: r.analysis.frames, default=None)
    run = None
    if longest is not None:
        folder, record = folders[longest.name], longest.record
        template = read_frames(folder / record.structure)[0]
        run = (f"production {record.name}", folder / record.structure,
               read_h5md(folder / record.trajectory, template))
    try:
        return write_scene(path, build_box, run, max(int(SCENE_SHARE * max_MB * 1e6) - VIEWER_SCRIPT_BYTES, 0))
    except ValueError as exc:  # a molecule whose atoms are not bonded in the first frame: no picture, the rest stands
        logger.warning("  3D view left out: %s", exc)
        return None
