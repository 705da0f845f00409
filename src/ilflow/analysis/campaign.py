"""`ilflow analyze`: every analysis of a campaign's project -> `analysis/results.json` and figures.

Per production run (equilibration left out): RDFs of all element pairs and of molecular centres, MSDs and
self-diffusion coefficients with error bars (blocks, or seeds as replicas), NPT density by block averaging,
dihedral distributions over growing windows. Across runs: density against experiment, the Yeh-Hummer
correction with the experimental viscosity, extrapolation over 1/L when there are several sizes, and
Arrhenius fits. Plus the learning history, the final model's test errors and the MD speed.
"""

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from ilflow.analysis import experiment
from ilflow.analysis.dihedrals import distributions_over_windows, trajectory_dihedrals
from ilflow.analysis.finite_size import arrhenius_fit, extrapolate_infinite_size, viscosity_from_table, yeh_hummer
from ilflow.analysis.msd import diffusion_coefficient, diffusion_with_error, msd
from ilflow.analysis.rdf import all_element_pairs, max_cutoff_A, molecular_rdf
from ilflow.analysis.statistics import block_average
from ilflow.analysis.trajectory import AnalysisError, Trajectory, molecule_formulas, read_h5md
from ilflow.project import atomic_write_text
from ilflow.units import A2_PS_IN_M2_S, density_g_cm3

logger = logging.getLogger(__name__)

MIN_DIFFUSION_FRAMES = 20  # fewer frames after equilibration: no diffusion coefficient


def load_run(folder: Path, record: dict) -> Trajectory:
    """The production trajectory of a run without its equilibration part (molecule ids from its packed box)."""
    from ilflow.io import read_frames

    template = read_frames(folder / record["structure"])[0]
    traj = read_h5md(folder / record["trajectory"], template)
    keep = traj.time_ps >= record["equilibration_ps"] - 1e-9
    return traj.frames(np.flatnonzero(keep))


def species_of_formula(folder: Path, record: dict) -> dict[str, str]:
    """Molecule formula -> species name (e.g. 'C8H15N2' -> 'BMIM') from the packed box's arrays."""
    from ase.formula import Formula
    from ilflow.io import read_frames

    atoms = read_frames(folder / record["structure"])[0]
    names = {}
    for m in np.unique(atoms.arrays["molecule_id"]):
        index = np.flatnonzero(atoms.arrays["molecule_id"] == m)
        formula = Formula.from_list(atoms[index].get_chemical_symbols()).format("hill")
        names[formula] = str(atoms.arrays["species_name"][index[0]]) if "species_name" in atoms.arrays else formula
    return names


def _diffusion(traj: Trajectory, select, molecules: bool) -> dict:
    """D (m^2/s) with a 95% interval from blocks (when the run is long enough), the fit window and MSD curve."""
    lag_ps, curve = msd(traj, select, molecules)
    fit = diffusion_coefficient(lag_ps, curve)
    out = {"D_m2_s": fit.D_m2_s, "fit_window_ps": [fit.t_start_ps, fit.t_end_ps], "log_log_slope": fit.slope,
           "diffusive": bool(fit.diffusive), "half_width_95_m2_s": None, "error_from": None,
           "msd": {"lag_ps": lag_ps.tolist(), "msd_A2": curve.tolist()}}
    blocks = min(5, traj.n_frames // 10)
    if blocks >= 2:
        estimate = diffusion_with_error(traj, blocks, select, molecules)
        out.update(half_width_95_m2_s=estimate.half_width_95_m2_s, error_from=f"{blocks} blocks")
    return out


def analyze_run(folder: Path, record: dict, settings) -> dict:
    """All per-run analyses of one production run (see the module docstring)."""
    traj = load_run(folder, record)
    if traj.n_frames < 2:
        raise AnalysisError(f"{folder}: fewer than 2 frames after {record['equilibration_ps']} ps of equilibration")
    names = species_of_formula(folder, record)
    r_max = settings.rdf_range_A or max_cutoff_A(traj.cells)
    r_max = min(r_max, max_cutoff_A(traj.cells))
    rdfs = {label: {"r_A": f.r_A.tolist(), "g": f.g.tolist(), "n": f.n.tolist()}
            for label, f in all_element_pairs(traj, r_max, settings.rdf_bins).items()}
    formulas = sorted(set(molecule_formulas(traj)))
    for i, a in enumerate(formulas):
        for b in formulas[i:]:
            f = molecular_rdf(traj, (a, b), r_max, settings.rdf_bins)
            rdfs[f"{names.get(a, a)}-{names.get(b, b)} (centres)"] = {"r_A": f.r_A.tolist(), "g": f.g.tolist(),
                                                                     "n": f.n.tolist()}
    out = {"frames": traj.n_frames, "analysed_ps": float(traj.time_ps[-1] - traj.time_ps[0]),
           "box_edge_A": float(np.mean(traj.volumes_A3) ** (1 / 3)), "rdf": rdfs, "diffusion": {}}
    if traj.n_frames >= MIN_DIFFUSION_FRAMES:
        for selection in settings.msd_selections:
            if selection == "molecules":
                for formula in formulas:
                    out["diffusion"][names.get(formula, formula)] = _diffusion(traj, formula, True)
            elif selection in {str(s) for s in _symbols(traj)}:
                out["diffusion"][selection] = _diffusion(traj, selection, False)
    density = density_g_cm3(float(np.sum(traj.masses)), traj.volumes_A3)
    out["density_g_cm3"] = _block(density) if record["ensemble"] == "npt" else {"mean": float(np.mean(density))}
    out["dihedrals"] = {}
    for smarts in settings.dihedral_smarts:
        try:
            quadruples, angles = trajectory_dihedrals(traj, smarts)
        except AnalysisError:
            continue
        centres, densities = distributions_over_windows(angles)
        out["dihedrals"][smarts] = {"count": int(len(quadruples)), "angle_deg": centres.tolist(),
                                    "windows": [0.1, 0.25, 0.5, 1.0], "density_per_deg": densities.tolist()}
    return out


def _symbols(traj: Trajectory) -> set[str]:
    from ase.data import chemical_symbols

    return {chemical_symbols[z] for z in np.unique(traj.numbers)}


def _block(series: np.ndarray) -> dict:
    b = block_average(series)  # too short for blocks: the mean with a NaN interval (None in results.json)
    return {"mean": b.mean, "half_width_95": b.half_width_95, "blocks": b.blocks, "inefficiency": b.inefficiency}


def density_table(runs: list[dict], csv_path: Path | None) -> list[dict]:
    """NPT densities per temperature (runs of one temperature pooled by their means) next to experiment."""
    rows = []
    for run in (r for r in runs if r["record"]["ensemble"] == "npt"):
        d = run["analysis"]["density_g_cm3"]
        exp = None
        if csv_path is not None:
            try:
                exp = experiment.density_g_cm3(run["record"]["temperature_K"], csv_path)
            except AnalysisError:
                exp = None
        rows.append({"run": run["name"], "temperature_K": run["record"]["temperature_K"],
                     "formula_units": run["record"]["formula_units"], "model": run["record"]["force_field"],
                     "simulated_ps": run["analysis"]["analysed_ps"], "density_g_cm3": d["mean"],
                     "half_width_95_g_cm3": d["half_width_95"], "blocks": d["blocks"], "experiment_g_cm3": exp,
                     "deviation_percent": None if exp is None else 100.0 * (d["mean"] - exp) / exp})
    return sorted(rows, key=lambda r: (r["temperature_K"], r["formula_units"]))


def diffusion_table(runs: list[dict], viscosity_csv: Path | None) -> list[dict]:
    """D per selection and run, with the Yeh-Hummer correction from the experimental viscosity."""
    rows = []
    for run in runs:
        record, analysis = run["record"], run["analysis"]
        for selection, d in analysis["diffusion"].items():
            eta = None
            if viscosity_csv is not None:
                try:
                    eta = viscosity_from_table(record["temperature_K"], viscosity_csv)
                except AnalysisError:
                    eta = None
            L = analysis["box_edge_A"]
            rows.append({"run": run["name"], "selection": selection, "temperature_K": record["temperature_K"],
                         "formula_units": record["formula_units"], "ensemble": record["ensemble"], "box_edge_A": L,
                         "simulated_ps": analysis["analysed_ps"], "D_m2_s": d["D_m2_s"],
                         "half_width_95_m2_s": d["half_width_95_m2_s"], "diffusive": d["diffusive"],
                         "viscosity_Pa_s": eta,
                         "D_yeh_hummer_m2_s": None if eta is None else yeh_hummer(d["D_m2_s"], record["temperature_K"],
                                                                                    eta, L)})
    return rows


def size_extrapolations(rows: list[dict]) -> list[dict]:
    """D_inf from D over 1/L for every (selection, T) with at least two box sizes (NVT runs)."""
    groups = defaultdict(list)
    for row in rows:
        if row["ensemble"] == "nvt":
            groups[(row["selection"], row["temperature_K"])].append(row)
    out = []
    for (selection, T), members in sorted(groups.items()):
        sizes = sorted({m["formula_units"] for m in members})
        if len(sizes) < 2:
            continue
        L = [m["box_edge_A"] for m in members]
        D = [m["D_m2_s"] for m in members]
        fit = extrapolate_infinite_size(L, D, None, T)
        out.append({"selection": selection, "temperature_K": T, "formula_units": sizes,
                    "D_inf_m2_s": fit.D_inf_m2_s, "D_inf_error_m2_s": fit.D_inf_error_m2_s,
                    "viscosity_from_slope_Pa_s": fit.viscosity_Pa_s})
    return out


def arrhenius(rows: list[dict], extrapolated: list[dict]) -> list[dict]:
    """Activation energies of D(T) per selection: from D_inf where available, else Yeh-Hummer, else D_pbc."""
    out = []
    for selection in sorted({r["selection"] for r in rows}):
        by_T = {}
        for r in rows:
            if r["selection"] == selection and r["D_m2_s"] > 0 and r["diffusive"]:  # sub-diffusive D would mislead
                value = r["D_yeh_hummer_m2_s"] or r["D_m2_s"]
                by_T.setdefault(r["temperature_K"], []).append(value)
        source = "Yeh-Hummer corrected" if any(r["D_yeh_hummer_m2_s"] for r in rows if r["selection"] == selection) \
            else "periodic box"
        for e in extrapolated:
            if e["selection"] == selection and e["D_inf_m2_s"] > 0:
                by_T[e["temperature_K"]] = [e["D_inf_m2_s"]]
                source = "extrapolated to infinite size where possible"
        if len(by_T) < 2:
            continue
        T = sorted(by_T)
        fit = arrhenius_fit(T, [float(np.mean(by_T[t])) for t in T])
        out.append({"selection": selection, "temperatures_K": T, "D_m2_s": [float(np.mean(by_T[t])) for t in T],
                    "from": source, "activation_energy_kJ_mol": fit.activation_energy_kJ_mol,
                    "activation_energy_error_kJ_mol": fit.activation_energy_error_kJ_mol})
    return out


def learning_summary(project) -> dict:
    """The learning history and the final model's validation and test errors."""
    from ilflow.active.loop import load_history
    from ilflow.active.records import TrainingRecord

    model, _ = project.final_model()
    final = TrainingRecord.load(model.parent / "training.json")
    return {"history": [r.to_dict() for r in load_history(project)], "final_model": str(model),
            "validation": final.validation, "test": final.test, "train_frames": final.train_frames,
            "figures": {"history": str(project.history_path.with_suffix(".png")),
                        "parity": str(model / "parity_validation.png")}}


def speed_table(runs: list[dict]) -> list[dict]:
    rows = [{"run": r["name"], "atoms": r["record"]["atoms"], "model": r["record"]["force_field"],
             "ensemble": r["record"]["ensemble"], "ns_per_day": r["record"]["md"]["ns_per_day"]} for r in runs]
    return sorted(rows, key=lambda r: (r["atoms"], r["model"]))


def rough_notes(runs: list[dict], reference_method: str = "") -> list[str]:
    """Plain warnings about numbers that are too rough to read much into, or that count something twice."""
    notes = []
    if reference_method == "xtb" and any(r["record"].get("model") == "hybrid" for r in runs):
        notes.append("GFN2-xTB labels already contain dispersion (D4): the hybrid runs (model + D3 at run time, the "
                     "study's recipe for dispersion-free DFT labels) count dispersion twice and overestimate the "
                     "density; the model alone is the consistent choice with these labels.")
    short = [r for r in runs if r["analysis"]["analysed_ps"] < 1000.0]
    if short:
        longest = max(r["analysis"]["analysed_ps"] for r in short)
        notes.append(f"Production runs are short (at most {longest:.0f} ps analysed; the study ran 20 ns): diffusion "
                     "coefficients come from the sub-diffusive regime and density intervals reflect only short "
                     "fluctuations. Treat them as a demonstration of the pipeline, not as results.")
    small = [r for r in runs if r["record"]["atoms"] < 240]
    if small:
        notes.append(f"Boxes are small ({min(r['record']['atoms'] for r in small)} atoms): RDFs stop at half the box "
                     "width and finite-size effects are large.")
    return notes


def analyze_project(campaign, runs: list, learning: dict, out_dir: Path) -> dict:
    """Analyse the campaign's production runs (`runs`: (directory, RunRecord) pairs) with the learning summary;
    writes results.json and the figures into `out_dir` and returns the results."""
    from ilflow.analysis import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    smiles = [s.smiles for s in campaign.species]
    settings = campaign.analysis
    analysed = []
    for folder, run_record in runs:
        record = run_record.to_dict()
        try:
            analysis = analyze_run(folder, record, settings)
        except AnalysisError as exc:
            logger.warning("  %s: not analysed (%s)", run_record.name, exc)
            continue
        analysed.append({"name": run_record.name, "record": record, "analysis": analysis})
    runs = analysed
    density_csv = experiment.table_for("density", settings.experimental_density_csv, smiles)
    viscosity_csv = experiment.table_for("viscosity", settings.experimental_viscosity_csv, smiles)
    diffusion = diffusion_table(runs, viscosity_csv)
    extrapolated = size_extrapolations(diffusion)
    results = {
        "campaign": campaign.name,
        "notes": rough_notes(runs, getattr(campaign.reference, "method", "")),
        "learning": learning,
        "runs": runs,
        "density": density_table(runs, density_csv),
        "diffusion": diffusion,
        "diffusion_extrapolated": extrapolated,
        "arrhenius": arrhenius(diffusion, extrapolated),
        "experiment": {"density_csv": str(density_csv) if density_csv else None,
                       "viscosity_csv": str(viscosity_csv) if viscosity_csv else None,
                       "diffusion": _experimental_diffusion(settings.experimental_diffusion_csv)},
        "speed": speed_table(runs),
        "units": {"D": "m^2/s", "density": "g/cm^3", "viscosity": "Pa s", "time": "ps", "r": "Å",
                  "activation_energy": "kJ/mol", "A2_ps_in_m2_s": A2_PS_IN_M2_S},
    }
    results["figures"] = plots.all_figures(results, out_dir)
    results = _without_nan(results)
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=1, default=_jsonable, allow_nan=False) + "\n")
    return results


def _without_nan(value):
    """NaN and inf (e.g. the error of a fit through two points) as None: results.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _experimental_diffusion(csv_path: str | None) -> list[dict]:
    """Rows (temperature_K, selection, D_m2_s) of a user CSV of measured self-diffusion coefficients."""
    if not csv_path:
        return []
    import csv

    path = Path(csv_path)
    if not path.exists():
        raise AnalysisError(f"analysis.experimental_diffusion_csv: {path} does not exist")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]
    rows = list(csv.DictReader(lines))
    if not rows or not {"temperature_K", "selection", "D_m2_s"} <= set(rows[0]):
        raise AnalysisError(f"{path} needs columns temperature_K, selection (e.g. BMIM, BF4) and D_m2_s")
    return [{"temperature_K": float(r["temperature_K"]), "selection": r["selection"].strip(), "D_m2_s": float(r["D_m2_s"])}
            for r in rows]


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
