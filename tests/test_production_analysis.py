"""Production planning, the campaign analysis on synthetic runs with known answers (`synthetic_runs`), and the
HTML report."""

import json
from pathlib import Path

import numpy as np
import pytest

from ilflow.analysis import experiment
from ilflow.analysis.campaign import analyze_project
from ilflow.analysis.results import AnalysisResults, BlockMean, LearningSummary, Mean
from ilflow.config import load_campaign
from ilflow.config.production import StatePoints
from ilflow.config.system import Species
from ilflow.errors import ConfigError
from ilflow.manifest import ProjectError
from ilflow.production import plan_runs, scaled_species
from ilflow.active.records import IterationRecord
from ilflow.project import Project
from ilflow.report import _learning, write_report
from ilflow.training.metrics import ErrorTable

from synthetic_runs import ou_stress, synthetic_run

DEMO = Path(__file__).parents[1] / "src" / "ilflow" / "examples" / "demo.yaml"


def test_shipped_density_table_follows_its_published_fit():
    """The CSV header gives rho = 1411.25 - 0.70358 T (kg/m3, max residual 0.43); our fit must agree."""
    for T in (283.15, 320.0, 353.15):
        expected = (1411.25 - 0.70358 * T) / 1000.0
        assert experiment.density_g_cm3(T, experiment.DATA / "bmim_bf4_density.csv") == pytest.approx(expected, abs=5e-4)
    with pytest.raises(Exception, match="too far outside"):
        experiment.density_g_cm3(500.0, experiment.DATA / "bmim_bf4_density.csv")


def test_plan_scales_formula_units_and_takes_experimental_densities():
    campaign = load_campaign(DEMO)
    species = scaled_species(list(campaign.species), 8)
    assert [s.count for s in species] == [8, 8]
    runs = plan_runs(campaign.production.runs, list(campaign.species))
    expected = sum(len(g.temperatures_K) * len(g.formula_units) * len(g.seeds) for g in campaign.production.runs)
    assert len(runs) == expected
    run = next(r for r in runs if r.temperature_K == 353)
    assert run.density_g_cm3 == pytest.approx((1411.25 - 0.70358 * 353) / 1000, abs=5e-4)
    given = StatePoints(name="x", temperatures_K=[300], density="given", density_g_cm3=1.0)
    assert plan_runs([given], list(campaign.species))[0].density_g_cm3 == 1.0


def test_experimental_density_of_an_unknown_liquid_needs_a_table():
    water = [Species(name="water", smiles="O", count=10)]
    with pytest.raises(ConfigError, match="experimental_density_csv"):
        plan_runs([StatePoints(name="w", temperatures_K=[300])], water)


def test_campaign_analysis_and_report_on_synthetic_runs(tmp_path):
    campaign = load_campaign(DEMO)
    campaign = campaign.model_copy(update={"analysis": campaign.analysis.model_copy(update={
        "msd_selections": ["B", "molecules"], "dihedral_smarts": []})})
    # Å^2/ps = 2e-8 m^2/s: fast enough that within each of the 5 blocks of 99 ps the BF 'molecules' move beyond their
    # own size (4.8 Å), as a diffusive window requires
    D = 2.0
    # force uncertainty: the NPT run stays below the demo's threshold (0.5 eV/Å) after an uncertain equilibration
    # (frames 0-9, 0-0.9 ps); the NVT run's analysed frames cross it 3% of the time (30 of 990), above the 1% allowed
    rng = np.random.default_rng(5)
    calm = np.concatenate([np.full(10, 2.0), rng.uniform(0.02, 0.4, 990)])
    wild = rng.uniform(0.02, 0.4, 1000)
    wild[rng.choice(np.arange(10, 1000), 30, replace=False)] = rng.uniform(0.6, 3.0, 30)
    npt = synthetic_run(tmp_path / "production" / "npt" / "a", "npt", 353.0, D, 1, frames=1000, uncertainty_eV_A=calm,
                        ions=True)  # 13 cations and 13 anions among its 27 molecules
    # and a pressure tensor every 10 fs whose traceless components are Ornstein-Uhlenbeck (0.001 eV/Å^3 rms, 0.2 ps)
    stress = ou_stress(10 * 999, 0.01, 1e-6, 0.2, seed=6)
    nvt = synthetic_run(tmp_path / "production" / "nvt" / "b", "nvt", 313.0, D / 2, 2, frames=1000,
                        uncertainty_eV_A=wild, model="DFT-D3.20A", stress=stress)  # a final model's name
    # a run whose molecules never leave their place (MSD 0.6 Å^2 after 100 ps) but whose MSD has slope 1: not
    # diffusive, so no D, no Yeh-Hummer, no Arrhenius point
    caged = synthetic_run(tmp_path / "production" / "nvt" / "c", "nvt", 333.0, 0.001, 4, frames=1000)
    stale = synthetic_run(tmp_path / "production" / "nvt" / "old", "nvt", 300.0, D, 3)  # not in the campaign
    runs = [(tmp_path / "production" / "npt" / "a", npt["record"]),
            (tmp_path / "production" / "nvt" / "b", nvt["record"]),
            (tmp_path / "production" / "nvt" / "c", caged["record"])]
    learning = LearningSummary(history=[], final_model=None, validation=None, test=None, train_frames=0, figures={})
    project = Project(tmp_path)
    results = analyze_project(campaign, runs, learning, project.analysis_dir)
    assert stale["record"].name not in {r.name for r in results.runs}  # only the runs it was given
    assert AnalysisResults.load(project.analysis_dir / "results.json") == results  # what it returns is what it saved
    assert AnalysisResults.load(results.save(tmp_path / "copy.json")) == results  # the JSON round trip

    runs = {r.name: r for r in results.runs}
    assert runs["npt/1fu-353K-seed1"].record == npt["record"]
    b = runs["npt/1fu-353K-seed1"].analysis.diffusion["B"]
    # one fit over lags up to half the run: with 27 walkers the MSD at a lag of half the run scatters by about 15%
    assert b.D_m2_s == pytest.approx(D * 1e-8, rel=0.25)
    slow = runs["nvt/1fu-313K-seed2"].analysis.diffusion["BF"]  # molecular centres
    assert slow.D_m2_s == pytest.approx(D / 2 * 1e-8, rel=0.25)
    assert isinstance(runs["npt/1fu-353K-seed1"].analysis.density_g_cm3, BlockMean)
    assert isinstance(runs["nvt/1fu-313K-seed2"].analysis.density_g_cm3, Mean)  # NVT: {"mean": ...} only
    density = results.density[0]
    assert density.density_g_cm3 == pytest.approx(np.mean(npt["density"]), rel=1e-9)
    assert density.half_width_95_g_cm3 > 0
    # the campaign's species are BMIM-BF4: experiment from the shipped tables (their published fits, computed here)
    assert density.experiment_g_cm3 == pytest.approx((1411.25 - 0.70358 * 353) / 1000, abs=5e-4)
    row = next(r for r in results.diffusion if r.run == "npt/1fu-353K-seed1" and r.selection == "B")
    eta = np.exp(-8.3590 + 692.21 / (353 - 184.49))  # VFT fit of the viscosity table, Pa s
    kT = 1.380649e-23 * 353
    L = row.box_edge_A * 1e-10
    assert row.D_yeh_hummer_m2_s - row.D_m2_s == pytest.approx(2.837297 * kT / (6 * np.pi * eta * L), rel=0.03)
    assert row.diffusive and row.run_needed_ps is None
    still = next(r for r in results.diffusion if r.run == "nvt/1fu-333K-seed4" and r.selection == "B")
    caged_fit = runs["nvt/1fu-333K-seed4"].analysis.diffusion["B"]
    assert caged_fit.log_log_slope == pytest.approx(1.0, abs=0.1)  # what a slope-only test would accept
    assert caged_fit.required_msd_A2 == pytest.approx((1.4 + 1.92 + 1.47) ** 2)  # B-F plus van der Waals radii
    assert not still.diffusive and still.D_yeh_hummer_m2_s is None and still.viscosity_Pa_s is not None
    # at its apparent D (1e-11 m^2/s) the MSD reaches 22.9 Å^2 after 22.9 / (6 x 0.001) ps = 3.8 ns, and the
    # fit uses lags up to half the run
    assert still.run_needed_ps == pytest.approx(2 * caged_fit.required_msd_A2 / (6 * caged_fit.D_m2_s * 1e8),
                                                rel=0.01)
    assert still.run_needed_ps == pytest.approx(7.6e3, rel=0.2)
    arrhenius = {a.selection: a for a in results.arrhenius}
    assert arrhenius["B"].temperatures_K == [313.0, 353.0]  # the caged run at 333 K left out
    # viscosity: V sigma^2 tau / kT of the series after the equilibration (1 ps), and Yeh-Hummer with it
    eta = runs["nvt/1fu-313K-seed2"].analysis.viscosity
    expected_eta = 12.0**3 * 1e-30 * 1e-6 * (1.602176634e-19 / 1e-30) ** 2 * 0.2e-12 / (1.380649e-23 * 313)
    assert eta.converged and eta.samples == 10 * 999 - 99 and eta.interval_fs == pytest.approx(10.0)
    assert abs(eta.green_kubo_Pa_s - expected_eta) <= eta.green_kubo_half_width_95_Pa_s < 0.2 * expected_eta
    assert abs(eta.einstein_helfand_Pa_s - expected_eta) <= eta.einstein_helfand_half_width_95_Pa_s
    own = next(r for r in results.diffusion if r.run == "nvt/1fu-313K-seed2" and r.selection == "B")
    assert own.D_yeh_hummer_own_viscosity_m2_s == pytest.approx(
        own.D_m2_s + 2.837297 * 1.380649e-23 * 313 / (6 * np.pi * eta.green_kubo_Pa_s * own.box_edge_A * 1e-10))
    [viscosity_row] = results.viscosity
    assert viscosity_row.experiment_Pa_s == pytest.approx(np.exp(-8.3590 + 692.21 / (313 - 184.49)), rel=1e-3)
    assert runs["npt/1fu-353K-seed1"].analysis.viscosity is None  # no pressure-tensor series
    # conductivity of the independent random walkers: Nernst-Einstein e^2 / (V kT) 26 D, ionicity 1
    [kappa] = results.conductivity
    c = kappa.conductivity
    volume_m3 = np.mean(np.asarray(runs["npt/1fu-353K-seed1"].analysis.box_edge_A) ** 3) * 1e-30
    ne = (1.602176634e-19) ** 2 / (volume_m3 * kT) * 26 * D * 1e-8
    assert c.diffusive and c.nernst_einstein_S_m == pytest.approx(ne, rel=0.1)
    assert abs(c.ionicity - 1.0) <= c.ionicity_half_width_95 < 1.0
    assert kappa.experiment_S_m == pytest.approx(np.exp(4.9629 - 780.04 / (353 - 168.03)), rel=0.03)  # header fit
    assert all(r.analysis.conductivity is None for r in results.runs if r.name != kappa.run)  # neutral molecules
    expected_Ea = 8.314462618e-3 * np.log(2) / (1 / 313 - 1 / 353)  # D halves from 353 to 313 K
    assert arrhenius["B"].activation_energy_kJ_mol == pytest.approx(expected_Ea, rel=0.3)
    assert arrhenius["B"].activation_energy_error_kJ_mol is None  # two temperatures: inf in the fit, null in JSON
    g = np.asarray(runs["nvt/1fu-313K-seed2"].analysis.rdf["B-B"].g)
    assert g.mean() == pytest.approx(1.0, abs=0.35)  # random walkers: an ideal gas far from each other's start
    assert {"rdf", "msd", "density", "diffusion", "speed", "uncertainty"} <= set(results.figures)
    assert results.uncertainty.threshold_eV_A == 0.5  # the demo's MD samplers keep the default threshold
    assert results.uncertainty.extrapolating == ["nvt/1fu-313K-seed2"]
    fractions = {"npt/1fu-353K-seed1": np.mean(calm[10:] > 0.5), "nvt/1fu-313K-seed2": np.mean(wild[10:] > 0.5)}
    assert fractions == {"npt/1fu-353K-seed1": 0.0, "nvt/1fu-313K-seed2": 30 / 990}
    for name, fraction in fractions.items():
        assert runs[name].analysis.uncertainty.analysed.fraction_above_threshold == fraction
    assert runs["npt/1fu-353K-seed1"].analysis.uncertainty.whole_run.fraction_above_threshold == 10 / 1000

    path, _ = write_report(campaign, project, project.report_dir)
    page = path.read_text()
    assert "Self-diffusion" in page and "Density" in page and page.count("data:image/png;base64,") >= 6
    assert "<h2>Production uncertainty (threshold 0.5 eV/Å)</h2>" in page
    table = page.split("<h2>Production uncertainty")[1].split("<h2>")[0]
    for name, fraction in fractions.items():  # every run's row with its fraction above the threshold (in %)
        row = table.split(f'<td class="l">{name}</td>')[1].split("</tr>")[0]
        assert f"<td class=\"\">{100 * fraction:.3g} %</td>" in row
    assert '<tr class="flag"><td class="l">nvt/1fu-313K-seed2</td><td class="l">DFT-D3.20A</td>' in table
    assert '<tr><td class="l">npt/1fu-353K-seed1</td><td class="l">ensemble</td>' in table
    for name in ("analysis", "report"):  # the JSON users read: the same keys as the records' fields, strict JSON
        strict = json.loads((tmp_path / name / "results.json").read_text(),
                            parse_constant=lambda c: pytest.fail(f"results.json holds {c}, not strict JSON"))
        assert strict["density"][0]["density_g_cm3"] == pytest.approx(density.density_g_cm3)
        assert strict["arrhenius"][0]["from"] == arrhenius["B"].source
        nvt_density = runs["nvt/1fu-313K-seed2"].analysis.density_g_cm3.mean
        assert strict["runs"][1]["analysis"]["density_g_cm3"] == {"mean": nvt_density}
        assert strict["runs"][0]["record"]["force_field"] == "synthetic"
    assert {"versions", "generated_utc"} <= set(strict)
    assert "2 points: no error bar" in page  # an Arrhenius fit through two temperatures has no error
    assert "<h2>Shear viscosity</h2>" in page and f"{eta.green_kubo_Pa_s * 1e3:.3g} ± " in page
    assert "<h2>Ionic conductivity</h2>" in page and f"{c.einstein_helfand_S_m:.3g} ± " in page
    caged_row = page.split('<td class="l">nvt/1fu-333K-seed4</td><td class="l">B</td>')[1].split("</tr>")[0]
    assert "not diffusive" in caged_row and f"at least {still.run_needed_ps / 1000:.2g} ns" in caged_row


def test_report_without_analysis_says_what_to_run(tmp_path):
    with pytest.raises(Exception, match="ilflow analyze"):
        write_report(load_campaign(DEMO), Project(tmp_path), tmp_path / "report")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"campaign": "demo"}', '{"campaign": "demo", "color": 1}'])
def test_report_refuses_a_results_json_that_is_not_an_analysis_record(tmp_path, text):
    project = Project(tmp_path)
    source = project.analysis_dir / "results.json"
    source.parent.mkdir(parents=True)
    source.write_text(text)
    with pytest.raises(ProjectError, match="not a AnalysisResults record") as caught:
        write_report(load_campaign(DEMO), project, tmp_path / "report")
    assert caught.value.exit_code == 2 and str(source) in str(caught.value)
    assert source.read_text() == text and not (tmp_path / "report" / "report.html").exists()  # nothing touched


def _errors(forces_mae_meV_A: float) -> ErrorTable:
    return ErrorTable(structures=3, energy_mae_meV_atom=1.0, energy_rmse_meV_atom=1.0, forces_mae_meV_A=forces_mae_meV_A,
                      forces_rmse_meV_A=forces_mae_meV_A, forces_mae_meV_A_by_element={"H": forces_mae_meV_A})


def test_report_learning_table_shows_each_iterations_force_errors():
    row = IterationRecord(iteration=1, name="iteration-1", md_steps_run=500, md_stop="uncertainty", simulated_ps=0.5,
                          candidates=20, selected=5, labelled=5, failed=0, train_size=15, sample_s=0.0, select_s=0.0,
                          label_s=0.0, train_s=0.0, validation=_errors(80.4), test=_errors(90.6))
    html = _learning(LearningSummary(history=[row], final_model=None, validation=None, test=None, train_frames=15,
                                     figures={}))
    assert '<td class="">80</td><td class="">91</td></tr>' in html


def test_a_run_too_short_for_einstein_helfand_keeps_its_green_kubo_viscosity_marked_as_a_lower_bound(tmp_path):
    """4 ps of stress after the equilibration, cut into 5 blocks of 58 samples: Einstein-Helfand's fit window does
    not fit into a block (a demo run of 1.5 ps at 5 fs had 60), Green-Kubo still gives a number, and the report shows
    both facts instead of leaving the run out of the table."""
    from types import SimpleNamespace

    from ilflow.analysis.campaign import _viscosity
    from ilflow.analysis.results import ViscosityRow
    from ilflow.report import _viscosity as viscosity_section

    stress = ou_stress(10 * 39, 0.01, 1e-6, 0.2, seed=6)
    run = synthetic_run(tmp_path / "a", "nvt", 313.0, 1.0, 2, frames=40, stress=stress)
    v = _viscosity(tmp_path / "a", run["record"], 12.0**3)
    assert v.samples == 291 and v.green_kubo_Pa_s > 0 and v.green_kubo_half_width_95_Pa_s > 0
    assert v.einstein_helfand_Pa_s is None and v.einstein_helfand_half_width_95_Pa_s is None and not v.converged
    row = ViscosityRow(run="nvt/short", temperature_K=313.0, formula_units=1, viscosity=v, experiment_Pa_s=0.05)
    page = viscosity_section(SimpleNamespace(viscosity=[row]))
    cells = page.split('<td class="l">nvt/short</td>')[1].split("</tr>")[0]
    shown = f"{v.green_kubo_Pa_s * 1e3:.3g} ± {v.green_kubo_half_width_95_Pa_s * 1e3:.2g}"
    assert f"{shown} (not converged: a lower bound)" in cells and "run too short for the fit" in cells
    assert ">50<" in cells  # the experiment, mPa s
