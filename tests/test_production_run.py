"""One production run end to end on a 2-pair box with a gentle random model: PACKMOL -> CL&P NPT -> rescale to
the experimental density -> NVT or hybrid NPT; the record, the density reached, D3 only where asked, no rerun."""

import h5py
import jax
import numpy as np
import pytest

from conftest import BF4, BMIM
from ilflow.analysis.trajectory import read_h5md
from ilflow.config import Box, Species
from ilflow.config.model import Dispersion
from ilflow.config.production import StatePoints
from ilflow.potentials import Calculator, GMNNConfig, init_params, save_model
from ilflow.production import plan_runs, run_production

SPECIES = [Species(name="BMIM", smiles=BMIM, count=1), Species(name="BF4", smiles=BF4, count=1)]
# cold and short: the random model has no bonds, so molecules hold together only for a few dozen steps
SHORT = dict(formula_units=[2], timestep_fs=0.5, classical_ps=0.5, rescale_ps=0.01, equilibration_ps=0.005,
             production_ps=0.01, frame_interval_fs=2.5)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("production")
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(8, 8), r_max_A=4.0)
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01  # gentle random forces
    save_model(root / "model", config, params)
    return root / "model"


@pytest.mark.slow
def test_nvt_run_reaches_its_density_and_resumes_without_new_steps(model_dir, tmp_path):
    run = plan_runs([StatePoints(name="nvt", ensemble="nvt", temperatures_K=[30], model="ensemble", density="given",
                                 density_g_cm3=1.15, **SHORT)], SPECIES)[0]
    record = run_production(run, SPECIES, Box(density_g_cm3=1.2, seed=1), model_dir, None, tmp_path / "r")
    assert record.completed and record.atoms == 60 and record.dispersion is None, record
    assert record.target_density_g_cm3 == 1.15
    trajectory = read_h5md(tmp_path / "r" / record.trajectory)
    masses_g = trajectory.masses.sum() * 1.66053906660e-24
    density = masses_g / (trajectory.volumes_A3 * 1e-24)
    assert np.allclose(density, record.target_density_g_cm3, rtol=1e-9)  # NVT at the rescaled box
    assert trajectory.n_frames == 1 + round((SHORT["equilibration_ps"] + SHORT["production_ps"]) * 1000 / 2.5)
    # run again in the same directory (a resumed stage): every MD step continues from its finished checkpoint
    frames = trajectory.n_frames
    again = run_production(run, SPECIES, Box(density_g_cm3=1.2, seed=1), model_dir, None, tmp_path / "r")
    assert again.md.steps_done == record.md.steps_done and again.md.frames == record.md.frames
    assert read_h5md(tmp_path / "r" / record.trajectory).n_frames == frames


@pytest.mark.slow
def test_hybrid_npt_adds_d3_only_to_the_production_part(model_dir, tmp_path):
    run = plan_runs([StatePoints(name="npt", ensemble="npt", temperatures_K=[30], model="hybrid", density="given",
                                 density_g_cm3=1.15, **SHORT)], SPECIES)[0]
    d3 = Dispersion(cutoff_A=8.0).settings()
    record = run_production(run, SPECIES, Box(density_g_cm3=1.2, seed=1), model_dir, d3, tmp_path / "r")
    assert record.completed and record.dispersion == d3 and "D3" in record.force_field, record
    assert record.pressure_bar == pytest.approx(1.01325)
    # preparation with the model alone, production with model + D3: the potential energy recorded with the first
    # frame of each equals that of an independent ASE calculator of the same kind on that frame
    for step, dispersion in (("rescale", None), ("md", d3)):
        frame = read_h5md(tmp_path / "r" / step / "trajectory.h5md").atoms(0)
        frame.calc = Calculator(model_dir, dispersion=dispersion)
        with h5py.File(tmp_path / "r" / step / "trajectory.h5md") as f:
            recorded = f["observables/potential_energy/value"][0]
        assert recorded == pytest.approx(frame.get_potential_energy(), abs=1e-4), step
    with_d3 = Calculator(model_dir, dispersion=d3).get_potential_energy(frame)
    assert abs(with_d3 - Calculator(model_dir).get_potential_energy(frame)) > 1e-2  # D3 is not negligible here
    volumes = read_h5md(tmp_path / "r" / record.trajectory).volumes_A3
    assert np.ptp(volumes) > 0  # the barostat moved the box


@pytest.mark.slow
def test_a_preparation_that_breaks_a_molecule_stops_the_run(model_dir, tmp_path):
    """At 353 K the bond-free random model lets a molecule fall apart during the rescale: the run is recorded as
    not completed, with the reason, and no production trajectory is started from the broken box."""
    hot = {**SHORT, "rescale_ps": 0.05}
    run = plan_runs([StatePoints(name="hot", ensemble="nvt", temperatures_K=[353], model="ensemble", **hot)],
                    SPECIES)[0]
    record = run_production(run, SPECIES, Box(density_g_cm3=1.2, seed=1), model_dir, None, tmp_path / "r")
    assert not record.completed and record.failed_step == "rescale"
    assert record.rescale.stop_reason == "broken molecule" and not (tmp_path / "r" / "md").exists()


@pytest.mark.slow
def test_runs_of_one_group_as_replicas_are_their_runs_alone(model_dir, tmp_path):
    """Two temperatures of one group run through the stage engine as replicas of one MD: each run's stage is done
    with its own manifest and record, and its production trajectory equals the run made alone from the same
    preparation (copied: OpenMM's CL&P MD is not reproducible from one execution to the next)."""
    import shutil

    from ilflow.active.final import ProductionModel
    from ilflow.md.summary import MDSummary
    from ilflow.production.stage import _run_stages
    from ilflow.project import Project

    project, box = Project(tmp_path / "p"), Box(density_g_cm3=1.2, seed=1)
    final = project.run_stage("final/ensemble", {"model": "random"},
                              lambda d: [shutil.copytree(model_dir, d / "model")])
    model = ProductionModel("ensemble", final.directory / "model", final.name, None)
    runs = plan_runs([StatePoints(name="nvt", ensemble="nvt", temperatures_K=[30, 40], model="ensemble",
                                  density="given", density_g_cm3=1.15, **SHORT)], SPECIES)
    records = _run_stages(project.root, runs, [{"T": r.temperature_K} for r in runs], model, final.manifest, SPECIES,
                          box, together=True)
    position = "particles/trajectory/position/value"
    for run, record in zip(runs, records):
        directory = project.production_dir(run.group, run.key)
        assert project.manifest(project.production_stage(run.group, run.key)).done
        assert record.completed and record.temperature_K == run.temperature_K, record
        assert MDSummary.load(directory / "md" / "summary.json").replicas == 2  # made as one MD of two replicas
        alone = tmp_path / f"alone-{run.key}"
        shutil.copytree(directory, alone, ignore=shutil.ignore_patterns("md", "run.json", "manifest.json"))
        record_alone = run_production(run, SPECIES, box, model_dir, None, alone)
        assert record_alone.md.replicas is None and record_alone.md.steps_done == record.md.steps_done
        with h5py.File(directory / record.trajectory) as a, h5py.File(alone / record.trajectory) as b:
            assert np.allclose(a[position][:], b[position][:], atol=1e-8)
    # done stages are skipped: nothing is run again
    again = _run_stages(project.root, runs, [{"T": r.temperature_K} for r in runs], model, final.manifest, SPECIES,
                        box, together=True)
    assert again == records
