"""`ilflow report`: one self-contained HTML page (figures embedded as PNG) and results.json with every number."""

import base64
import dataclasses
import html
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ilflow.analysis.results import AnalysisResults, LearningSummary
from ilflow.analysis.scene import Scene
from ilflow.errors import IlflowError
from ilflow.project import atomic_write_text
from ilflow.training.metrics import ErrorTable

PACKAGES = ("ilflow", "jax", "numpy", "ase", "rdkit", "tblite", "openmm", "dask", "h5py", "optax")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.sub{color:#666;margin-top:.2em}.note{background:#fff6dd;border-left:4px solid #e0a800;padding:.6em 1em;margin:1em 0}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.85em}.muted{color:#777;font-size:.9em}
tr.flag td{background:#fde2e2}span.flag{color:#b00020;font-weight:bold}
"""


@dataclasses.dataclass(frozen=True)
class Report(AnalysisResults):
    """The report's results.json: the analysis results with the package versions and when it was made."""

    versions: dict[str, str]  # package -> version
    generated_utc: str

    @classmethod
    def of(cls, results: AnalysisResults) -> "Report":
        fields = {f.name: getattr(results, f.name) for f in dataclasses.fields(results)}
        return cls(**fields, versions=_versions(),
                   generated_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "machine": f"{platform.machine()}, {platform.system()}"}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _img(path: Path | None, alt: str) -> str:
    """A figure embedded as PNG; the figures come from the results rendered, never from whatever files exist."""
    if path is None or not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _num(value, fmt: str = ".3g", missing: str = "–") -> str:
    if value is None:
        return missing
    return format(value, fmt)


def _with_error(value: float, error: float | None, points: int) -> str:
    if error is None:
        return f"{value:.1f} ({points} points: no error bar)"
    return f"{value:.1f} ± {error:.1f}"


def _table(header: list[str], rows: list[list[str]], left: int = 1, marked: frozenset[int] = frozenset()) -> str:
    """An HTML table of escaped cells; the first `left` columns left-aligned, the rows in `marked` highlighted."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(header))
    body = "".join(("<tr class=\"flag\">" if n in marked else "<tr>")
                   + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(row))
                   + "</tr>" for n, row in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _errors_rows(table: ErrorTable | None, name: str) -> list[str] | None:
    if not table:
        return None
    return [name, _num(table.energy_mae_meV_atom, ".2f"), _num(table.forces_mae_meV_A, ".1f"),
            _num(table.forces_rmse_meV_A, ".1f"), _num(table.stress_mae_meV_A3, ".2f")]


def _learning(learning: LearningSummary) -> str:
    history = learning.history
    if not history:
        return "<p>No learning history in this project.</p>"
    rows = [[f"{r.iteration} {html.escape(r.name)}",
             "–" if r.md_steps_run is None else f"{r.md_steps_run} ({html.escape(str(r.md_stop))})",
             str(r.candidates), str(r.selected), str(r.train_size),
             _num(r.forces_mae_meV_A("validation"), ".0f"), _num(r.forces_mae_meV_A("test"), ".0f")]
            for r in history]
    parts = ["<p>Each iteration samples with the current ensemble until its force uncertainty (max over atoms and "
             "components of the members' standard deviation) crosses the threshold, selects candidates, labels them "
             "with the reference method and retrains. Validation and test sets stay fixed, so errors are comparable "
             "across iterations.</p>",
             _table(["iteration", "MD steps (why stopped)", "candidates", "selected", "training frames",
                     "val F MAE (meV/Å)", "test F MAE (meV/Å)"], rows),
             _img(_learning_figure(learning, "history"), "learning history")]
    errors = [r for r in (_errors_rows(learning.validation, "validation"), _errors_rows(learning.test, "test")) if r]
    if errors:
        parts.append(f"<h3>Final model</h3><p class='muted'>{html.escape(str(learning.final_model))}, trained on "
                     f"{learning.train_frames} frames. Errors of the ensemble mean against the reference labels.</p>")
        parts.append(_table(["set", "energy MAE (meV/atom)", "forces MAE (meV/Å)", "forces RMSE (meV/Å)",
                             "stress MAE (meV/Å³)"], errors))
        parts.append(_img(_learning_figure(learning, "parity"), "parity plot"))
    if learning.final_models:
        parts.append(_final_models(learning))
    return "".join(parts)


def _final_models(learning: LearningSummary) -> str:
    """The final models production uses: what their labels hold, run-time D3, errors against their labels."""
    rows = [[html.escape(m.name), html.escape(m.labels), html.escape(m.run_time_d3 or "–"), str(m.train_frames),
             _num(m.validation.forces_mae_meV_A, ".0f"),
             _num(m.test.forces_mae_meV_A if m.test else None, ".0f"),
             _num(m.test.energy_mae_meV_atom if m.test else None, ".2f"),
             _num(m.test.stress_mae_meV_A3 if m.test else None, ".2f")] for m in learning.final_models]
    return (f"<h3>Final models</h3><p>Trained after the last iteration on the same frames, on variants of their labels "
            f"(reference: {html.escape(learning.reference)}); dispersion added to labels or at run time is ilflow's "
            "D3(BJ), so no reference label was recomputed. Errors are against each model's own labels.</p>"
            + _table(["model", "labels", "run-time dispersion", "training frames", "val F MAE (meV/Å)",
                      "test F MAE (meV/Å)", "test E MAE (meV/atom)", "test stress MAE (meV/Å³)"], rows))


def _learning_figure(learning: LearningSummary, name: str) -> Path | None:
    path = learning.figures.get(name)
    return Path(path) if path else None


def _figure(results: AnalysisResults, figures: Path, name: str) -> Path | None:
    """The analysis figure `name` of these results (None if the analysis made none)."""
    file = results.figures.get(name)
    return figures / file if file else None


def _density(results: AnalysisResults, figures: Path) -> str:
    rows = results.density
    if not rows:
        return "<p>No NPT runs in this campaign.</p>"
    table = _table(["run", "T (K)", "model", "simulated (ps)", "density (g/cm³)", "95% interval", "blocks",
                    "experiment (g/cm³)", "deviation"],
                   [[html.escape(r.run), f"{r.temperature_K:g}", html.escape(r.model), f"{r.simulated_ps:.1f}",
                     f"{r.density_g_cm3:.3f}", "±" + _num(r.half_width_95_g_cm3, ".3f"), _num(r.blocks, "d"),
                     _num(r.experiment_g_cm3, ".3f"), _num(r.deviation_percent, "+.1f") + " %"] for r in rows])
    return ("<p>Mean density of the NPT runs after equilibration, with Student-t 95% intervals from block averages "
            "(block length from the statistical inefficiency of the density series); one series per model, as in "
            "the study's Fig. 7a.</p>" + table + _img(_figure(results, figures, "density"), "density"))


def _diffusion(results: AnalysisResults, figures: Path) -> str:
    rows = results.diffusion
    if not rows:
        return "<p>No diffusion coefficients (runs too short or no MSD selections).</p>"
    table = _table(["run", "selection", "T (K)", "L (Å)", "analysed (ps)", "D box (m²/s)", "95% interval",
                    "diffusive regime?", "η exp (mPa s)", "D Yeh-Hummer (m²/s)", "D Yeh-Hummer, own η (m²/s)"],
                   [[html.escape(r.run), html.escape(r.selection), f"{r.temperature_K:g}", f"{r.box_edge_A:.2f}",
                     f"{r.simulated_ps:.1f}", _num(r.D_m2_s, ".3g") if r.diffusive else "not diffusive",
                     "±" + _num(r.half_width_95_m2_s, ".2g") if r.diffusive else "", _regime(r),
                     _num(_milli(r.viscosity_Pa_s), ".3g"), _num(r.D_yeh_hummer_m2_s, ".3g"),
                     _num(r.D_yeh_hummer_own_viscosity_m2_s, ".3g")] for r in rows],
                   left=2)
    parts = ["<p>Self-diffusion from the Einstein relation, MSD = 6 D t, fitted where the log-log slope of the MSD "
             "is closest to 1 (thick lines in the MSD figure). A run is diffusive only if that slope stays 1 over at "
             "least a decade of lag time and the MSD there exceeds the squared size of the molecule (dashed): a "
             "molecule that has not moved its own size has not left its cage of neighbours, and a slope of 1 within "
             "the cage is not diffusion. Runs that are not diffusive give no D, no Yeh-Hummer correction, and enter "
             "neither the 1/L extrapolation nor the Arrhenius fits; the run length they would need is estimated from "
             "their apparent D, which overestimates the long-time D, so it is a lower bound. Yeh-Hummer: "
             "D∞ = D + ξ k<sub>B</sub>T / (6π η L), ξ = 2.837297, with the experimental viscosity η.</p>", table]
    if results.diffusion_extrapolated:
        parts.append(_table(["selection", "T (K)", "sizes (formula units)", "D∞ (m²/s)", "± (1σ)", "η from slope (mPa s)"],
                            [[html.escape(e.selection), f"{e.temperature_K:g}", ", ".join(map(str, e.formula_units)),
                              _num(e.D_inf_m2_s), _num(e.D_inf_error_m2_s, ".2g"), _num(_milli(e.viscosity_from_slope_Pa_s))]
                             for e in results.diffusion_extrapolated]))
    if results.arrhenius:
        parts.append(_table(["selection", "temperatures (K)", "from", "activation energy (kJ/mol)"],
                            [[html.escape(a.selection), ", ".join(f"{t:g}" for t in a.temperatures_K),
                              html.escape(a.source), _with_error(a.activation_energy_kJ_mol,
                                                                 a.activation_energy_error_kJ_mol, len(a.temperatures_K))]
                             for a in results.arrhenius]))
    parts.append(_img(_figure(results, figures, "diffusion"), "Arrhenius plot") + _img(_figure(results, figures, "msd"), "MSD"))
    return "".join(parts)


def _conductivity(results: AnalysisResults) -> str:
    rows = results.conductivity
    if not rows:
        return "<p>No conductivity (no ions, or runs too short).</p>"

    def value(v: float, half: float | None, diffusive: bool) -> str:
        return (_num(v, ".3g") + (" ± " + _num(half, ".2g") if half is not None else "")) if diffusive else "–"

    table = _table(["run", "T (K)", "analysed (ps)", "σ Nernst-Einstein (S/m)", "σ Einstein-Helfand (S/m)",
                    "ionicity", "diffusive regime?", "σ experiment (S/m)"],
                   [[html.escape(r.run), f"{r.temperature_K:g}", f"{r.simulated_ps:.1f}",
                     value(c.nernst_einstein_S_m, c.nernst_einstein_half_width_95_S_m, c.diffusive),
                     value(c.einstein_helfand_S_m, c.einstein_helfand_half_width_95_S_m, c.diffusive),
                     value(c.ionicity, c.ionicity_half_width_95, c.diffusive),
                     _regime(c), _num(r.experiment_S_m, ".3g")]
                    for r in rows for c in [r.conductivity]])
    return ("<p>Nernst-Einstein: σ = e² / (V k<sub>B</sub>T) Σ N<sub>i</sub> q<sub>i</sub>² D<sub>i</sub> from the "
            "ions' self-diffusion (formal charges), as if they moved independently; Einstein-Helfand: the collective "
            "conductivity from the mean squared displacement of the translational dipole Σ q<sub>j</sub> r<sub>j</sub> "
            "of the molecular centres; ionicity: their ratio (0.6-0.7 from impedance over NMR diffusion for "
            "BMIM-BF4 near room temperature, Tokuda et al., J. Phys. Chem. B 108, 16593 (2004)). One dipole per "
            "frame makes Einstein-Helfand much noisier than self-diffusion. Values are "
            "shown only where every ion's self-diffusion and the dipole's MSD are diffusive (see above); intervals: "
            "95% from blocks.</p>" + table)


def _viscosity(results: AnalysisResults) -> str:
    rows = results.viscosity
    if not rows:
        return ("<p>No viscosity: the production runs wrote no pressure-tensor series (set "
                "<code>stress_interval_fs</code> in <code>production.runs</code>).</p>")

    def value(eta: float | None, half: float | None, converged: bool) -> str:
        if eta is None:
            return "run too short for the fit"
        shown = f"{_milli(eta):.3g} ± {_milli(half):.2g}"
        return shown if converged else f"{shown} (not converged: a lower bound)"

    table = _table(["run", "T (K)", "series (ps)", "η Green-Kubo (mPa s)", "cut at (ps)",
                    "η Einstein-Helfand (mPa s)", "η experiment (mPa s)"],
                   [[html.escape(r.run), f"{r.temperature_K:g}", f"{v.samples * v.interval_fs * 1e-3:.1f}",
                     value(v.green_kubo_Pa_s, v.green_kubo_half_width_95_Pa_s, v.converged), f"{v.cutoff_ps:.2g}",
                     value(v.einstein_helfand_Pa_s, v.einstein_helfand_half_width_95_Pa_s, v.converged),
                     _num(_milli(r.experiment_Pa_s), ".3g")] for r in rows for v in [r.viscosity]])
    return ("<p>Shear viscosity from the model's own pressure tensor (five traceless components): Green-Kubo, the "
            "integral of the stress autocorrelation cut where it meets its noise, and Einstein-Helfand, the slope of "
            "the integrated stress's mean squared displacement; 95% intervals from 5 blocks. Near room "
            "temperature the stress autocorrelation of an ionic liquid (BMIM-BF4: about 100 mPa s at 298 K) decays "
            "over hundreds of picoseconds to nanoseconds, so runs of picoseconds miss most of the viscosity: their "
            "numbers are lower bounds at best, marked so. Where converged, the "
            "Green-Kubo value also enters a second Yeh-Hummer correction (the self-diffusion table).</p>" + table)


def _regime(row) -> str:
    """'yes', or why not: the run length needed at the apparent D, or a slope that is not 1."""
    if row.diffusive:
        return "yes"
    if row.run_needed_ps is None:
        return "no: the log-log slope is not 1"
    ps = row.run_needed_ps
    needed = f"{ps / 1000:.2g} ns" if ps >= 1000 else f"{ps:.0f} ps" if ps >= 10 else f"{ps:.2g} ps"
    return f"no: run longer (at least {needed} at this rate)"


def _speed(results: AnalysisResults, figures: Path) -> str:
    rows = results.speed
    if not rows:
        return ""
    return (_table(["run", "atoms", "model", "ensemble", "ns/day"],
                   [[html.escape(r.run), str(r.atoms), html.escape(r.model), r.ensemble,
                     f"{r.ns_per_day:.3f}"] for r in rows]) + _img(_figure(results, figures, "speed"), "speed"))


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g} %"


def _uncertainty(results: AnalysisResults, figures: Path) -> str:
    """One row per analysed run (extrapolating ones highlighted) and the box plot of the force uncertainty."""
    summary, runs = results.uncertainty, results.runs
    if not runs:
        return "<p>No production runs analysed.</p>"
    rows, marked = [], set()
    for n, run in enumerate(runs):
        stats = run.analysis.uncertainty
        cells = [html.escape(run.name), html.escape(run.record.model), f"{run.record.temperature_K:g}"]
        if stats is None:
            rows.append(cells + ["–"] * 7 + ["not recorded"])
            continue
        a, w = stats.analysed, stats.whole_run
        if stats.extrapolating:
            marked.add(n)
        rows.append(cells + [f"{a.frames} / {w.frames}", _num(a.median_eV_A), _num(a.p95_eV_A), _num(a.max_eV_A),
                             _percent(a.fraction_above_threshold), _num(w.max_eV_A),
                             _percent(w.fraction_above_threshold),
                             '<span class="flag">extrapolating</span>' if stats.extrapolating else "ok"])
    parts = [f"<p>The ensemble's force uncertainty of every saved frame (standard deviation of the members' forces, "
             f"max over atoms and components, eV/Å) against the learning threshold "
             f"<b>{summary.threshold_eV_A:g} eV/Å</b> ({html.escape(summary.threshold_from)}), over the analysed "
             f"frames (after equilibration; the columns without 'whole run') and over the whole run. A run is "
             f"flagged as extrapolating when more than {_percent(summary.max_uncertain_fraction)} of its analysed "
             "frames lie above the threshold "
             "(analysis.max_uncertain_fraction): the model is outside what it learned there, and that run's numbers "
             "are suspect. A model without an ensemble reports 0. In the figure, per run over its analysed frames: "
             "box from the 25th to the 75th percentile, median line, whiskers from the 5th to the 95th, × the "
             "maximum; red: extrapolating.</p>"]
    if summary.extrapolating:
        parts.append(f'<div class="note">Extrapolating: {html.escape(", ".join(summary.extrapolating))}.</div>')
    parts.append(_table(["run", "model", "T (K)", "frames (analysed / whole run)", "median (eV/Å)", "95th pct (eV/Å)",
                         "max (eV/Å)", "above threshold", "whole run: max (eV/Å)", "whole run: above threshold",
                         "flag"], rows, left=2, marked=frozenset(marked)))
    parts.append(_img(_figure(results, figures, "uncertainty"), "force uncertainty"))
    return "".join(parts)


VIEWER_ASSETS = Path(__file__).parent / "data" / "viewer"
VIEWER_PLACEHOLDER = "<!--ilflow-viewer-->"  # no escaped text can contain it
VIEWER_CONTROLS = (
    '<div id="ilflow-viewer" style="width:100%;height:540px;position:relative;border:1px solid #ddd"></div>'
    '<p>view <select id="ilflow-viewer-view"></select> <button id="ilflow-viewer-play">play</button> '
    '<input id="ilflow-viewer-frame" type="range" min="0" max="0" value="0" style="width:35%"> colour by '
    '<select id="ilflow-viewer-colour"><option value="element">element</option><option value="species">species'
    '</option></select> <span id="ilflow-viewer-legend">species:</span></p>'
    '<p class="muted" id="ilflow-viewer-status"></p>'
    '<noscript><p class="note">The 3D view needs JavaScript; the rest of this report does not.</p></noscript>')


def _viewer(scene: Scene | None, room_bytes: int) -> str:
    """The 3D view (3Dmol.js, BSD-3-Clause, bundled): the scene thinned to what fits in room_bytes with the script."""
    if scene is None:
        return "<p>No 3D view: the analysis wrote no scene (no build box and no analysed run).</p>"
    script = (VIEWER_ASSETS / "3Dmol-min.js").read_text() + "\n"
    ours = (VIEWER_ASSETS / "viewer.js").read_text()
    fixed = len(VIEWER_CONTROLS) + len(script.encode()) + len(ours.encode()) + 200
    fitted = scene.fitted(room_bytes - fixed)
    if fitted is None:
        return (f"<p>No 3D view: it needs more than the {room_bytes / 1e6:.1f} MB left below the report's size limit "
                "(analysis.viewer_max_MB).</p>")
    thinned = [f"{v.title}: one frame in {v.every} of those written" for v in fitted.views if v.every > 1]
    return ("<p>Drag to rotate, scroll to zoom. Molecules are drawn whole across the periodic boundary, each with its "
            "centre inside the box" + (f"; {', '.join(thinned)}" if thinned else "") + ".</p>" + VIEWER_CONTROLS
            + f"<script>{script}</script><script type='application/json' id='ilflow-scene'>{fitted.json_text()}"
            f"</script><script>{ours}</script>")


def _milli(value: float | None) -> float | None:
    return None if value is None else 1000 * value


def render(report: Report, campaign_yaml: str, figures: Path, max_bytes: int = 20_000_000) -> str:
    """The report page as HTML text of at most max_bytes (UTF-8; the 3D view is thinned or left out to fit);
    `figures`: the analysis folder with the figures and the scene named in the results."""
    results, versions, runs = report, report.versions, report.runs
    notes = "".join(f'<div class="note">{html.escape(n)}</div>' for n in results.notes)
    history = results.learning.history
    summary = (f"{len(history) - 1 if history else 0} learning iterations, {len(runs)} production runs "
               f"({', '.join(sorted({html.escape(r.record.model) for r in runs})) or 'none'}).")
    sections = [
        ("The liquid in 3D", VIEWER_PLACEHOLDER),
        ("Learning on the fly and model accuracy", _learning(results.learning)),
        (f"Production uncertainty (threshold {results.uncertainty.threshold_eV_A:g} eV/Å)",
         _uncertainty(results, figures)),
        ("Density", _density(results, figures)),
        ("Self-diffusion", _diffusion(results, figures)),
        ("Ionic conductivity", _conductivity(results)),
        ("Shear viscosity", _viscosity(results)),
        ("Structure: radial distribution functions",
         "<p>g(r) of every element pair and of molecular centres of mass (one line per run), normalised by the "
         "instantaneous volume of each frame.</p>" + _img(_figure(results, figures, "rdf"), "RDFs")
         + ("<p>The same pairs, one line per model, at the state point most models ran: how much the structure "
            "depends on where dispersion comes from.</p>" + _img(_figure(results, figures, "rdf_models"), "RDFs by model")
            if results.figures.get("rdf_models") else "")),
        ("Conformations: butyl-chain dihedrals",
         "<p>Distributions over the first 10, 25, 50 and 100% of the longest run; lines on top of each other mean "
         "the distribution has converged.</p>" + _img(_figure(results, figures, "dihedrals"), "dihedrals")),
        ("Speed", _speed(results, figures)),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{content}" for title, content in sections)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ilflow report: {html.escape(results.campaign)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(results.campaign)}</h1>"
            f"<p class='sub'>ilflow {html.escape(versions.get('ilflow', '?'))} report, {report.generated_utc}. {summary}</p>"
            f"{notes}{body}<h2>Campaign file</h2><pre>{html.escape(campaign_yaml)}</pre>"
            f"<h2>Versions</h2>{_table(['package', 'version'], [[html.escape(k), html.escape(v)] for k, v in versions.items()])}"
            "</body></html>")
    before, after = page.split(VIEWER_PLACEHOLDER, 1)
    scene = None if results.scene is None else Scene.load(figures / results.scene)
    room = max_bytes - len(before.encode()) - len(after.encode())
    return before + _viewer(scene, room) + after


def write_report(campaign, project, out: Path) -> list[Path]:
    """report.html and results.json in `out` from the project's analysis results (run the analysis first);
    a results.json that is not an analysis record of this ilflow is a ProjectError."""
    import yaml

    source = project.analysis_dir / "results.json"
    if not source.exists():
        raise IlflowError(f"{source} does not exist; run the analysis first (ilflow analyze)")
    report = Report.of(AnalysisResults.load(source))
    campaign_yaml = yaml.safe_dump(campaign.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    max_bytes = int(campaign.analysis.viewer_max_MB * 1e6)
    return [atomic_write_text(out / "report.html", render(report, campaign_yaml, project.analysis_dir, max_bytes)),
            report.save(out / "results.json")]
