"""Tables across the analysed production runs: density against experiment, diffusion with the Yeh-Hummer
correction, conductivity against experiment, extrapolation over 1/L, Arrhenius fits, MD speed and plain warnings
about rough numbers."""

from collections import defaultdict
from pathlib import Path

import numpy as np

from ilflow.analysis import experiment
from ilflow.analysis.finite_size import arrhenius_fit, extrapolate_infinite_size, viscosity_from_table, yeh_hummer
from ilflow.analysis.results import (
    AnalysedRun,
    ArrheniusRow,
    ConductivityRow,
    DensityRow,
    DiffusionRow,
    ExperimentalDiffusion,
    SizeExtrapolationRow,
    SpeedRow,
    ViscosityRow,
)
from ilflow.analysis.trajectory import AnalysisError


def _measured(value_at, temperature_K: float, csv_path: Path | None) -> float | None:
    """value_at(temperature_K, csv_path) from an experimental table; None without a table or outside its range."""
    if csv_path is None:
        return None
    try:
        return value_at(temperature_K, csv_path)
    except AnalysisError:
        return None


def density_table(runs: list[AnalysedRun], csv_path: Path | None) -> list[DensityRow]:
    """NPT densities per temperature (runs of one temperature pooled by their means) next to experiment."""
    rows = []
    for run in (r for r in runs if r.record.ensemble == "npt"):
        d = run.analysis.density_g_cm3  # a BlockMean: NPT densities are block averaged
        exp = _measured(experiment.density_g_cm3, run.record.temperature_K, csv_path)
        rows.append(DensityRow(run=run.name, temperature_K=run.record.temperature_K,
                               formula_units=run.record.formula_units, model=run.record.model,
                               simulated_ps=run.analysis.analysed_ps, density_g_cm3=d.mean,
                               half_width_95_g_cm3=d.half_width_95, blocks=d.blocks, experiment_g_cm3=exp,
                               deviation_percent=None if exp is None else 100.0 * (d.mean - exp) / exp))
    return sorted(rows, key=lambda r: (r.temperature_K, r.formula_units))


def diffusion_table(runs: list[AnalysedRun], viscosity_csv: Path | None) -> list[DiffusionRow]:
    """D per selection and run, with the Yeh-Hummer correction from the experimental viscosity and from the run's
    own (Green-Kubo, where converged) where the run is diffusive."""
    rows = []
    for run in runs:
        record, analysis = run.record, run.analysis
        own = analysis.viscosity
        eta = _measured(viscosity_from_table, record.temperature_K, viscosity_csv)
        for selection, d in analysis.diffusion.items():
            L = analysis.box_edge_A
            rows.append(DiffusionRow(
                run=run.name, selection=selection, temperature_K=record.temperature_K,
                formula_units=record.formula_units, ensemble=record.ensemble, box_edge_A=L,
                simulated_ps=analysis.analysed_ps, D_m2_s=d.D_m2_s, half_width_95_m2_s=d.half_width_95_m2_s,
                diffusive=d.diffusive, viscosity_Pa_s=eta,
                D_yeh_hummer_m2_s=yeh_hummer(d.D_m2_s, record.temperature_K, eta, L) if eta and d.diffusive else None,
                run_needed_ps=d.run_needed_ps,
                D_yeh_hummer_own_viscosity_m2_s=yeh_hummer(d.D_m2_s, record.temperature_K, own.green_kubo_Pa_s, L)
                if d.diffusive and own and own.converged and own.green_kubo_Pa_s > 0 else None))
    return rows


def conductivity_table(runs: list[AnalysedRun], conductivity_csv: Path | None) -> list[ConductivityRow]:
    """The conductivity of every run with ions, next to the experimental value at its temperature."""
    rows = []
    for run in runs:
        if run.analysis.conductivity is None:
            continue
        rows.append(ConductivityRow(run=run.name, temperature_K=run.record.temperature_K,
                                    formula_units=run.record.formula_units, simulated_ps=run.analysis.analysed_ps,
                                    conductivity=run.analysis.conductivity,
                                    experiment_S_m=_measured(experiment.conductivity_S_m, run.record.temperature_K,
                                                             conductivity_csv)))
    return rows


def viscosity_table(runs: list[AnalysedRun], viscosity_csv: Path | None) -> list[ViscosityRow]:
    """The shear viscosity of every run with a pressure-tensor series, next to the experimental value."""
    rows = []
    for run in runs:
        if run.analysis.viscosity is None:
            continue
        rows.append(ViscosityRow(run=run.name, temperature_K=run.record.temperature_K,
                                 formula_units=run.record.formula_units, viscosity=run.analysis.viscosity,
                                 experiment_Pa_s=_measured(viscosity_from_table, run.record.temperature_K,
                                                           viscosity_csv)))
    return rows


def size_extrapolations(rows: list[DiffusionRow]) -> list[SizeExtrapolationRow]:
    """D_inf from D over 1/L for every (selection, T) with at least two box sizes (diffusive NVT runs)."""
    groups = defaultdict(list)
    for row in rows:
        if row.ensemble == "nvt" and row.diffusive:
            groups[(row.selection, row.temperature_K)].append(row)
    out = []
    for (selection, T), members in sorted(groups.items()):
        sizes = sorted({m.formula_units for m in members})
        if len(sizes) < 2:
            continue
        fit = extrapolate_infinite_size([m.box_edge_A for m in members], [m.D_m2_s for m in members], None, T)
        out.append(SizeExtrapolationRow(selection=selection, temperature_K=T, formula_units=sizes,
                                        D_inf_m2_s=fit.D_inf_m2_s, D_inf_error_m2_s=fit.D_inf_error_m2_s,
                                        viscosity_from_slope_Pa_s=fit.viscosity_Pa_s))
    return out


def arrhenius(rows: list[DiffusionRow], extrapolated: list[SizeExtrapolationRow]) -> list[ArrheniusRow]:
    """Activation energies of D(T) per selection: from D_inf where available, else Yeh-Hummer, else D_pbc."""
    out = []
    for selection in sorted({r.selection for r in rows}):
        by_T = {}
        for r in rows:
            if r.selection == selection and r.D_m2_s > 0 and r.diffusive:  # sub-diffusive D would mislead
                by_T.setdefault(r.temperature_K, []).append(r.D_yeh_hummer_m2_s or r.D_m2_s)
        source = "Yeh-Hummer corrected" if any(r.D_yeh_hummer_m2_s for r in rows if r.selection == selection) \
            else "periodic box"
        for e in extrapolated:
            if e.selection == selection and e.D_inf_m2_s > 0:
                by_T[e.temperature_K] = [e.D_inf_m2_s]
                source = "extrapolated to infinite size where possible"
        if len(by_T) < 2:
            continue
        T = sorted(by_T)
        D = [float(np.mean(by_T[t])) for t in T]
        fit = arrhenius_fit(T, D)
        out.append(ArrheniusRow(selection=selection, temperatures_K=T, D_m2_s=D, source=source,
                                activation_energy_kJ_mol=fit.activation_energy_kJ_mol,
                                activation_energy_error_kJ_mol=fit.activation_energy_error_kJ_mol))
    return out


def speed_table(runs: list[AnalysedRun]) -> list[SpeedRow]:
    rows = [SpeedRow(run=r.name, atoms=r.record.atoms, model=r.record.force_field, ensemble=r.record.ensemble,
                     ns_per_day=r.record.md.ns_per_day) for r in runs]
    return sorted(rows, key=lambda r: (r.atoms, r.model))


def rough_notes(runs: list[AnalysedRun], reference: str = "") -> list[str]:
    """Plain warnings about numbers that are too rough to read much into, and what the reference is."""
    notes = []
    if reference.startswith("GFN") and any(r.record.ensemble == "npt" for r in runs):
        notes.append(f"The reference is {reference}, not DFT: densities compare the models with experiment, but the "
                     "reference's own density for this liquid is not known (no one has run MD with it), so they show "
                     "how dispersion beyond the model's cutoff moves the density (the study's finding), not how "
                     "close xTB or the models are to the real liquid.")
    short = [r for r in runs if r.analysis.analysed_ps < 1000.0]
    if short:
        longest = max(r.analysis.analysed_ps for r in short)
        notes.append(f"Production runs are short (at most {longest:.0f} ps analysed; the study ran 20 ns): molecules "
                     "that have not left their cage of neighbours give no diffusion coefficient or conductivity (the "
                     "tables say how long a run would need to be), a viscosity from a few picoseconds misses the "
                     "long tail of the stress autocorrelation, and density intervals reflect only short "
                     "fluctuations. Treat them as a demonstration of the pipeline, not as results.")
    small = [r for r in runs if r.record.atoms < 240]
    if small:
        notes.append(f"Boxes are small ({min(r.record.atoms for r in small)} atoms): RDFs stop at half the box "
                     "width and finite-size effects are large.")
    return notes


def experimental_diffusion(csv_path: str | None) -> list[ExperimentalDiffusion]:
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
    return [ExperimentalDiffusion(temperature_K=float(r["temperature_K"]), selection=r["selection"].strip(),
                                  D_m2_s=float(r["D_m2_s"])) for r in rows]
