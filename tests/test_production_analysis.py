"""Production planning, the campaign analysis on a synthetic run with known answers, and the HTML report."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from ilflow.analysis import experiment
from ilflow.analysis.campaign import analyze_project
from ilflow.analysis.results import AnalysisResults, BlockMean, LearningSummary, Mean
from ilflow.config import load_campaign
from ilflow.config.production import StatePoints
from ilflow.config.system import Species
from ilflow.errors import ConfigError
from ilflow.manifest import ProjectError
from ilflow.io import write_frames
from ilflow.md.h5md import OBSERVABLE_UNITS, H5MDWriter
from ilflow.md.summary import MDSummary
from ilflow.production import plan_runs, scaled_species
from ilflow.active.records import IterationRecord
from ilflow.production.records import RunRecord, StepRecord
from ilflow.project import Project
from ilflow.report import _learning, write_report
from ilflow.training.metrics import ErrorTable

DEMO = Path(__file__).parents[1] / "src" / "ilflow" / "examples" / "demo.yaml"


def test_shipped_density_table_follows_its_published_fit():
    """The CSV header gives rho = 1411.25 - 0.70358 T (kg/m3, max residual 0.43); our fit must agree."""
    for T in (283.15, 320.0, 353.15):
        expected = (1411.25 - 0.70358 * T) / 1000.0
        assert experiment.density_g_cm3(T, experiment.SHIPPED["density"]) == pytest.approx(expected, abs=5e-4)
    with pytest.raises(Exception, match="too far outside"):
        experiment.density_g_cm3(500.0, experiment.SHIPPED["density"])


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


def _synthetic_run(folder: Path, ensemble: str, T: float, D_A2_ps: float, seed: int, frames: int = 400,
                   dt_ps: float = 0.1, edge_A: float = 12.0) -> dict:
    """27 rigid diatomic 'molecules' (B-F, 1.4 Å) on random walks with a known D; box edge fluctuating for NPT."""
    rng = np.random.default_rng(seed)
    n_mol = 27
    grid = (np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * edge_A / 3
    steps = rng.normal(0.0, np.sqrt(2 * D_A2_ps * dt_ps), size=(frames, n_mol, 3))
    steps[0] = 0.0
    centres = grid[None] + np.cumsum(steps, axis=0)
    bond = np.array([0.0, 0.0, 1.4])
    positions = np.concatenate([centres - bond / 2, centres + bond / 2], axis=1)  # atoms 0..26 B, 27..53 F
    numbers = np.array([5] * n_mol + [9] * n_mol)
    molecule_id = np.concatenate([np.arange(n_mol), np.arange(n_mol)])
    edges = edge_A * (1 + (0.01 * rng.normal(size=frames) if ensemble == "npt" else np.zeros(frames)))
    atoms = Atoms(numbers, positions=positions[0], cell=np.eye(3) * edge_A, pbc=True)
    atoms.new_array("molecule_id", molecule_id)
    atoms.new_array("species_name", np.array(["BF"] * (2 * n_mol)))
    folder.mkdir(parents=True)
    write_frames(folder / "packed.extxyz", atoms)
    (folder / "md").mkdir()
    writer = H5MDWriter(folder / "md" / "trajectory.h5md", numbers, atoms.get_masses())
    record = {name: np.zeros(frames) for name in OBSERVABLE_UNITS}
    record.update(step=np.arange(frames) * 100, time_fs=np.arange(frames) * dt_ps * 1000,
                  cell=edges[:, None, None] * np.eye(3), positions=positions)
    writer.append(record)
    writer.close()
    md = MDSummary(steps_done=100 * (frames - 1), steps_requested=100 * (frames - 1), stop_reason=None, stop_step=None,
                   frames=frames, atoms=2 * n_mol, mean_temperature_K=T, mean_pressure_bar=1.0, mean_density_g_cm3=1.0,
                   max_force_uncertainty_eV_A=0.0, conserved_drift_eV_per_atom_per_ps=0.0, ns_per_day=1.0,
                   atom_steps_per_s=1.0, neighbor_list_builds=1)
    run = RunRecord(group=ensemble, key=f"1fu-{T:g}K-seed{seed}", ensemble=ensemble, temperature_K=T, formula_units=1,
                    seed=seed, atoms=2 * n_mol, target_density_g_cm3=None, start_density_g_cm3=1.0, pressure_bar=None,
                    model="ensemble", force_field="synthetic", dispersion=None, timestep_fs=1.0,
                    frame_interval_fs=100.0, equilibration_ps=1.0, production_ps=(frames - 1) * dt_ps - 1.0,
                    relax=StepRecord(0, None), rescale=StepRecord(0, None), md=md, trajectory="md/trajectory.h5md",
                    structure="packed.extxyz", completed=True, wall_s=0.0)
    run.save(folder / "run.json")
    assert RunRecord.load(folder / "run.json") == run  # the JSON round trip
    mass = atoms.get_masses().sum()
    return {"density": mass / 6.02214076e23 / (edges[10:] ** 3 * 1e-24), "record": run}


def test_campaign_analysis_and_report_on_synthetic_runs(tmp_path):
    campaign = load_campaign(DEMO)
    campaign = campaign.model_copy(update={"analysis": campaign.analysis.model_copy(update={
        "msd_selections": ["B", "molecules"], "dihedral_smarts": []})})
    D = 0.05  # Å^2/ps = 5e-10 m^2/s
    npt = _synthetic_run(tmp_path / "production" / "npt" / "a", "npt", 353.0, D, 1)
    nvt = _synthetic_run(tmp_path / "production" / "nvt" / "b", "nvt", 313.0, D / 2, 2)
    stale = _synthetic_run(tmp_path / "production" / "nvt" / "old", "nvt", 300.0, D, 3)  # not in the campaign
    runs = [(tmp_path / "production" / "npt" / "a", npt["record"]), (tmp_path / "production" / "nvt" / "b", nvt["record"])]
    learning = LearningSummary(history=[], final_model=None, validation=None, test=None, train_frames=0, figures={})
    project = Project(tmp_path)
    results = analyze_project(campaign, runs, learning, project.analysis_dir)
    assert stale["record"].name not in {r.name for r in results.runs}  # only the runs it was given
    assert AnalysisResults.load(project.analysis_dir / "results.json") == results  # what it returns is what it saved
    assert AnalysisResults.load(results.save(tmp_path / "copy.json")) == results  # the JSON round trip

    runs = {r.name: r for r in results.runs}
    assert runs["npt/1fu-353K-seed1"].record == npt["record"]
    b = runs["npt/1fu-353K-seed1"].analysis.diffusion["B"]
    assert b.D_m2_s == pytest.approx(D * 1e-8, abs=max(b.half_width_95_m2_s, 0.1 * D * 1e-8))
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
    arrhenius = {a.selection: a for a in results.arrhenius}
    expected_Ea = 8.314462618e-3 * np.log(2) / (1 / 313 - 1 / 353)  # D halves from 353 to 313 K
    assert arrhenius["B"].activation_energy_kJ_mol == pytest.approx(expected_Ea, rel=0.3)
    assert arrhenius["B"].activation_energy_error_kJ_mol is None  # two temperatures: inf in the fit, null in JSON
    g = np.asarray(runs["nvt/1fu-313K-seed2"].analysis.rdf["B-B"].g)
    assert g.mean() == pytest.approx(1.0, abs=0.35)  # random walkers: an ideal gas far from each other's start
    assert {"rdf", "msd", "density", "diffusion", "speed"} <= set(results.figures)

    path, _ = write_report(campaign, project, project.report_dir)
    page = path.read_text()
    assert "Self-diffusion" in page and "Density" in page and page.count("data:image/png;base64,") >= 5
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
