"""Figures of a campaign's analysis (PNG): RDFs, MSDs, densities, diffusion (Arrhenius), dihedrals, speed and the
production runs' force uncertainty."""

from pathlib import Path

import numpy as np

from ilflow.analysis.results import (
    AnalysedRun,
    AnalysisResults,
    DensityRow,
    DiffusionRow,
    ExperimentalDiffusion,
    SizeExtrapolationRow,
    SpeedRow,
)
from ilflow.training.plots import _figure, save_figure


def rdf_figure(runs: list[AnalysedRun], path: Path) -> Path:
    """One panel per pair (element pairs, then molecular centres), one line per run."""
    plt = _figure()
    pairs = list(dict.fromkeys(label for r in runs for label in r.analysis.rdf))
    cols = 6
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.0 * rows), squeeze=False)
    for ax, label in zip(axes.flat, pairs):
        for run in runs:
            data = run.analysis.rdf.get(label)
            if data is not None:
                ax.plot(data.r_A, data.g, lw=0.9, label=run.name)
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("r (Å)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("g(r)", fontsize=8)
    if runs:
        axes.flat[0].legend(fontsize=6)
    return save_figure(fig, path)


def msd_figure(runs: list[AnalysedRun], path: Path) -> Path:
    """Log-log MSD of every selection and run; the fitted window drawn thick, the MSD a diffusive window must
    reach (the squared size of the molecule) dashed."""
    plt = _figure()
    selections = list(dict.fromkeys(s for r in runs for s in r.analysis.diffusion))
    fig, axes = plt.subplots(1, max(1, len(selections)), figsize=(3.6 * max(1, len(selections)), 3.2), squeeze=False)
    for ax, selection in zip(axes[0], selections):
        for run in runs:
            d = run.analysis.diffusion.get(selection)
            if d is None:
                continue
            t, m = np.asarray(d.msd.lag_ps), np.asarray(d.msd.msd_A2)
            line, = ax.loglog(t[1:], m[1:], lw=0.8, label=run.name)
            lo, hi = d.fit_window_ps
            window = (t >= lo) & (t <= hi)
            ax.loglog(t[window], m[window], lw=2.5, color=line.get_color(), alpha=0.6)
            if d.required_msd_A2:
                ax.axhline(d.required_msd_A2, ls="--", lw=0.8, color="grey")
        ax.set_title(f"MSD {selection}", fontsize=9)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel("MSD (Å²)")
    if selections:
        axes[0, 0].legend(fontsize=6)
    return save_figure(fig, path)


def density_figure(rows: list[DensityRow], csv_path: str | None, path: Path) -> Path:
    """NPT density against temperature, one series per model with 95% intervals (paper Fig. 7a), and the
    experimental line; series are shifted by a few kelvin so their error bars do not hide each other."""
    from ilflow.analysis.experiment import read_table

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if csv_path:
        T, rho, column = read_table(csv_path, ("density_g_cm3", "density_kg_m3"))
        ax.plot(T, rho / 1000.0 if column == "density_kg_m3" else rho, "k-", label="experiment")
    models = list(dict.fromkeys(r.model for r in rows))
    for k, model in enumerate(models):
        mine = [r for r in rows if r.model == model]
        shift = 2.0 * (k - (len(models) - 1) / 2)
        ax.errorbar([r.temperature_K + shift for r in mine], [r.density_g_cm3 for r in mine],
                    yerr=[r.half_width_95_g_cm3 or 0.0 for r in mine], fmt="o", capsize=3, label=model)
    ax.set_xlabel("T (K)")
    ax.set_ylabel("density (g/cm³)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def rdf_models_figure(runs: list[AnalysedRun], path: Path) -> Path | None:
    """RDFs of the molecular centres and the anion-cation contact pairs, one line per model, at the temperature
    (and size) where most models ran; None if fewer than two models share one."""
    groups: dict[tuple, list[AnalysedRun]] = {}
    for run in runs:
        groups.setdefault((run.record.temperature_K, run.record.formula_units, run.record.ensemble), []).append(run)
    best = max(groups.values(), key=lambda g: (len({r.record.model for r in g}), g[0].record.temperature_K))
    by_model = {r.record.model: r for r in best}
    if len(by_model) < 2:
        return None
    plt = _figure()
    labels = [label for label in next(iter(by_model.values())).analysis.rdf if "centres" in label]
    labels += [label for label in ("B-H", "F-H", "B-N") if label in next(iter(by_model.values())).analysis.rdf]
    fig, axes = plt.subplots(1, len(labels), figsize=(2.8 * len(labels), 2.6), squeeze=False)
    for ax, label in zip(axes[0], labels):
        for model, run in by_model.items():
            data = run.analysis.rdf.get(label)
            if data is not None:
                ax.plot(data.r_A, data.g, lw=1.0, label=model)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("r (Å)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("g(r)", fontsize=8)
    axes[0, 0].legend(fontsize=6, title=f"{best[0].record.temperature_K:g} K, {best[0].record.ensemble.upper()}",
                      title_fontsize=6)
    return save_figure(fig, path)


def diffusion_figure(rows: list[DiffusionRow], extrapolated: list[SizeExtrapolationRow],
                     experimental: list[ExperimentalDiffusion], path: Path) -> Path:
    """Arrhenius plot: D in the periodic box, Yeh-Hummer corrected, extrapolated, and measured; runs that are not
    diffusive are left out (their D is an artefact of the cage regime)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    colours = {}
    for row in rows:
        c = colours.setdefault(row.selection, f"C{len(colours)}")
        if row.D_m2_s > 0 and row.diffusive:
            err = row.half_width_95_m2_s or 0.0
            ax.errorbar(1000.0 / row.temperature_K, row.D_m2_s, yerr=[[min(err, 0.99 * row.D_m2_s)], [err]],
                        fmt="o", mfc="none", color=c, capsize=2)
        if row.D_yeh_hummer_m2_s:
            ax.plot(1000.0 / row.temperature_K, row.D_yeh_hummer_m2_s, "o", color=c)
    for e in extrapolated:
        if e.D_inf_m2_s > 0:
            ax.plot(1000.0 / e.temperature_K, e.D_inf_m2_s, "D", color=colours.get(e.selection, "k"))
    for x in experimental:
        ax.plot(1000.0 / x.temperature_K, x.D_m2_s, "*", ms=9, color=colours.get(x.selection, "k"))
    for selection, c in colours.items():
        ax.plot([], [], "s", color=c, label=selection)
    ax.plot([], [], "o", mfc="none", color="grey", label="periodic box")
    ax.plot([], [], "o", color="grey", label="+ Yeh-Hummer")
    ax.plot([], [], "D", color="grey", label="1/L extrapolated")
    if experimental:
        ax.plot([], [], "*", color="grey", label="experiment")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (m²/s)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def dihedral_figure(run: AnalysedRun, path: Path) -> Path:
    """Distributions of each dihedral over growing windows of one run (converged when the lines agree)."""
    plt = _figure()
    items = list(run.analysis.dihedrals.items())
    fig, axes = plt.subplots(1, max(1, len(items)), figsize=(4.2 * max(1, len(items)), 3.2), squeeze=False)
    for ax, (smarts, d) in zip(axes[0], items):
        for w, density in zip(d.windows, d.density_per_deg):
            ax.plot(d.angle_deg, density, lw=1.0, label=f"first {100 * w:.0f}%")
        ax.set_title(f"{smarts} ({d.count} per frame)", fontsize=8)
        ax.set_xlabel("dihedral (degrees)")
        ax.set_ylabel("probability density (1/degree)")
        ax.set_xlim(-180, 180)
    if items:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(run.name, fontsize=9)
    return save_figure(fig, path)


def speed_figure(rows: list[SpeedRow], path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for model in sorted({r.model for r in rows}):
        mine = sorted((r for r in rows if r.model == model), key=lambda r: r.atoms)
        ax.plot([r.atoms for r in mine], [r.ns_per_day for r in mine], "o-", label=model)
    ax.set_xlabel("atoms")
    ax.set_ylabel("ns/day (2 CPU cores)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


LOWEST_DRAWN_eV_A = 1e-4  # a log axis cannot show 0 (a model without ensemble): drawn at 0.1 meV/Å instead


def _drawn(value: float | None) -> float:
    """An uncertainty (eV/Å) as a log axis can draw it; None (a non-finite frame in the run) is not drawn."""
    return np.nan if value is None else max(value, LOWEST_DRAWN_eV_A)


def uncertainty_figure(runs: list[AnalysedRun], threshold_eV_A: float, path: Path) -> Path:
    """Per run (one row each), the force uncertainty of its analysed frames: box from the 25th to the 75th
    percentile, median line, whiskers from the 5th to the 95th, x at the maximum; log x axis, the learning
    threshold as a vertical line, extrapolating runs in red."""
    plt = _figure()
    runs = [r for r in runs if r.analysis.uncertainty is not None]
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.32 * max(1, len(runs))))
    for y, run in enumerate(runs):
        d = run.analysis.uncertainty.analysed
        colour = "tab:red" if run.analysis.uncertainty.extrapolating else "tab:blue"
        box = {"med": _drawn(d.median_eV_A), "q1": _drawn(d.p25_eV_A), "q3": _drawn(d.p75_eV_A),
               "whislo": _drawn(d.p5_eV_A), "whishi": _drawn(d.p95_eV_A)}
        ax.bxp([box], positions=[y], orientation="horizontal", widths=0.6, showfliers=False,
               **{f"{part}props": {"color": colour} for part in ("box", "median", "whisker", "cap")})
        ax.plot(_drawn(d.max_eV_A), y, "x", color=colour)
    ax.axvline(threshold_eV_A, color="k", ls="--", lw=1, label=f"learning threshold {threshold_eV_A:g} eV/Å")
    ax.set_yticks(range(len(runs)), [r.name + (" (extrapolating)" if r.analysis.uncertainty.extrapolating else "")
                                     for r in runs], fontsize=7)
    ax.set_ylim(len(runs) - 0.3, -0.7)  # first run on top, as in the table
    ax.set_xscale("log")
    ax.set_xlabel("max force uncertainty per frame (eV/Å)")
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


def all_figures(results: AnalysisResults, out_dir: Path) -> dict[str, str]:
    """Every figure that has data; returns name -> file name (inside out_dir)."""
    runs = results.runs
    figures = {}
    if runs:
        figures["rdf"] = rdf_figure(runs, out_dir / "rdf.png")
        by_model = rdf_models_figure(runs, out_dir / "rdf_models.png")
        if by_model is not None:
            figures["rdf_models"] = by_model
        if any(r.analysis.diffusion for r in runs):
            figures["msd"] = msd_figure(runs, out_dir / "msd.png")
        with_dihedrals = [r for r in runs if r.analysis.dihedrals]
        if with_dihedrals:
            longest = max(with_dihedrals, key=lambda r: r.analysis.analysed_ps)
            figures["dihedrals"] = dihedral_figure(longest, out_dir / "dihedrals.png")
        figures["speed"] = speed_figure(results.speed, out_dir / "speed.png")
        if any(r.analysis.uncertainty is not None for r in runs):
            figures["uncertainty"] = uncertainty_figure(runs, results.uncertainty.threshold_eV_A,
                                                        out_dir / "uncertainty.png")
    if results.density:
        figures["density"] = density_figure(results.density, results.experiment.density_csv, out_dir / "density.png")
    if results.diffusion:
        figures["diffusion"] = diffusion_figure(results.diffusion, results.diffusion_extrapolated,
                                                results.experiment.diffusion, out_dir / "diffusion.png")
    return {name: Path(p).name for name, p in figures.items()}
