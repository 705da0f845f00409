"""`ilflow md`: a short run with a (random) model writes trajectory and summary; bad input exits 2 and writes nothing."""

import json

import jax
import pytest
from ase.build import bulk
from ase.io import write

from conftest import run_cli
from ilflow.md.summary import MDSummary
from ilflow.potentials import GMNNConfig, init_params, save_model


@pytest.fixture(scope="module")
def model_and_box(tmp_path_factory, box_2_pairs):
    root = tmp_path_factory.mktemp("md-cli")
    config = GMNNConfig(elements=(1, 5, 6, 7, 9), hidden=(16, 16))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01  # gentle random forces
    save_model(root / "model", config, params)
    write(root / "box.extxyz", box_2_pairs)
    return root


def test_md_run_writes_trajectory_and_summary(model_and_box):
    root = model_and_box
    args = ["md", "--model", str(root / "model"), "--structure", str(root / "box.extxyz"), "--steps", "20",
            "--frame-every", "10", "--max-uncertainty-eV-A", "0", "--out", str(root / "run")]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = MDSummary.load(root / "run" / "summary.json")
    assert summary.steps_done == 20 and summary.frames == 3 and summary.atoms == 60
    again = run_cli(*args)  # continues from the checkpoint: nothing left to do
    assert again.returncode == 0 and MDSummary.load(root / "run" / "summary.json").frames == 3


@pytest.mark.parametrize("extra,message", [
    (["--ensemble", "nph"], "--ensemble 'nph'"),
    (["--steps", "15", "--frame-every", "10"], "multiple of --frame-every"),
])
def test_md_bad_options(model_and_box, tmp_path, extra, message):
    root = model_and_box
    result = run_cli("md", "--model", str(root / "model"), "--structure", str(root / "box.extxyz"),
                     "--out", str(tmp_path / "run"), *extra)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "run").exists()


def test_md_elements_the_model_does_not_know(model_and_box, tmp_path):
    write(tmp_path / "argon.extxyz", bulk("Ar", "fcc", a=5.3, cubic=True))
    result = run_cli("md", "--model", str(model_and_box / "model"), "--structure", str(tmp_path / "argon.extxyz"),
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "Ar" in result.stderr and "structure" in result.stderr
    assert not (tmp_path / "run").exists()


def test_md_model_directory_missing(model_and_box, tmp_path):
    result = run_cli("md", "--model", str(tmp_path / "nothing"), "--structure", str(model_and_box / "box.extxyz"),
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "not a model directory" in result.stderr
    assert not (tmp_path / "run").exists()


def test_md_modifiers_from_yaml_reach_the_target_density(model_and_box, tmp_path, box_2_pairs):
    """box_ramp to a density: the last frame's box holds the structure's mass at exactly that density."""
    import h5py
    import numpy as np

    from ilflow import units

    (tmp_path / "ramps.yaml").write_text("temperature_ramp: {start_K: 300, end_K: 400, amplitude_K: 20, oscillations: 2}\n"
                                         "box_ramp: {end_density_g_cm3: 1.05}\n")
    result = run_cli("md", "--model", str(model_and_box / "model"), "--structure", str(model_and_box / "box.extxyz"),
                     "--steps", "20", "--frame-every", "10", "--max-uncertainty-eV-A", "0", "--ensemble", "langevin",
                     "--modifiers", str(tmp_path / "ramps.yaml"), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "run" / "trajectory.h5md") as f:
        edges = f["particles/trajectory/box/edges/value"][:]
    volumes = [abs(np.linalg.det(e)) for e in edges]
    mass = float(np.sum(box_2_pairs.get_masses()))
    assert volumes[0] == pytest.approx(box_2_pairs.get_volume(), rel=1e-9)
    assert volumes[-1] == pytest.approx(units.volume_A3_for_density(mass, 1.05), rel=1e-9)


def test_md_modifiers_file_with_a_typo(model_and_box, tmp_path):
    (tmp_path / "ramps.yaml").write_text("temperature_ramp:\n  start_K: 300\n  end: 400\n")
    result = run_cli("md", "--model", str(model_and_box / "model"), "--structure", str(model_and_box / "box.extxyz"),
                     "--modifiers", str(tmp_path / "ramps.yaml"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "ramps.yaml:3: temperature_ramp.end: unknown key" in result.stderr and "end_K" in result.stderr
    assert not (tmp_path / "run").exists()
