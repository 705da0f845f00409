"""The main job: `ilflow run` on the embedded demo builds its box once and skips it on re-run."""

import json

import numpy as np
from ase.io import read
from geometry import density_g_cm3

from conftest import REPO
from ilflow.config import load_campaign


def test_version_and_help(cli):
    import ilflow

    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ilflow {ilflow.__version__}"
    result = cli("--help")
    assert result.returncode == 0 and all(word in result.stdout for word in ("build", "validate", "run"))


def test_run_embedded_demo_then_skip(cli, tmp_path):
    demo = load_campaign(REPO / "examples" / "demo.yaml")
    first = cli("run", "--dir", str(tmp_path / "p"), "--until", "initial")
    assert first.returncode == 0, first.stderr
    box_path = tmp_path / "p" / "build" / "box.extxyz"
    atoms = read(box_path)
    n_molecules = sum(s.count for s in demo.species)
    assert len(np.unique(atoms.arrays["molecule_id"])) == n_molecules
    assert abs(density_g_cm3(atoms) - demo.box.density_g_cm3) < 1e-9
    assert "build (built)" in first.stdout and str(box_path) in first.stdout
    frames = read(tmp_path / "p" / "initial" / "frames.extxyz", ":")  # iteration 0: classical CL&P frames
    assert len(frames) == demo.learning.initial.frames and "initial (done)" in first.stdout
    assert frames[0].info["temperature_K"] == demo.learning.initial.temperature_K
    assert frames[-1].info["time_ps"] > frames[0].info["time_ps"] and frames[0].info["source"].startswith("classical")
    manifest = json.loads((tmp_path / "p" / "build" / "manifest.json").read_text())
    mtime = box_path.stat().st_mtime_ns

    second = cli("run", "--dir", str(tmp_path / "p"), "--until", "initial")
    assert second.returncode == 0, second.stderr
    assert "build (up to date, skipped)" in second.stdout and "initial (up to date, skipped)" in second.stdout
    assert box_path.stat().st_mtime_ns == mtime
    assert json.loads((tmp_path / "p" / "build" / "manifest.json").read_text()) == manifest


def test_run_with_a_bad_campaign_writes_nothing(cli, tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text("species: []\n")
    result = cli("run", str(campaign), "--dir", str(tmp_path / "p"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "p").exists()


def test_validate_names_the_molecules_without_classical_parameters(cli, tmp_path):
    """BMIM thiocyanate: CL&P parameters ship for BMIM, not for SCN-, so the initial data will be bootstrap frames;
    validate says so before anything runs."""
    campaign = tmp_path / "scn.yaml"
    campaign.write_text('species:\n  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}\n'
                        '  - {name: SCN, smiles: "[S-]C#N", count: 2}\nbox: {density_g_cm3: 1.07}\n')
    result = cli("validate", str(campaign))
    assert result.returncode == 0, result.stderr
    assert "bootstrap frames (no shipped CL&P parameters for SCN)" in result.stdout
    campaign.write_text(campaign.read_text().replace("[S-]C#N", "F[B-](F)(F)F").replace("SCN", "BF4"))
    result = cli("validate", str(campaign))
    assert result.returncode == 0 and "bootstrap" not in result.stdout
