"""An edited campaign reruns exactly what changed: a shortened campaign (Lennard-Jones reference, 2-pair boxes)
run through the CLI, edited the way a user would, with `ilflow status` read before each rerun and the stage
manifests, records and outputs compared after it."""

import base64
import copy
import json
import subprocess
import sys

import pytest
import yaml
from ase.io import read

from ilflow.data.store import Dataset

CAMPAIGN = """
name: edits
species:
  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}
  - {name: BF4, smiles: "F[B-](F)(F)F", count: 2}
box: {density_g_cm3: 1.0, seed: 42}
reference: {method: ase, calculator: "ase.calculators.lj:LennardJones", kwargs: {sigma: 1.0, epsilon: 0.01, rc: 4.0}}
model:
  r_max_A: 4.0
  hidden_layers: [8, 8]
  training: {epochs: 3, batch_size: 4}
learning:
  initial: {source: bootstrap, frames: 10, n_train: 5, n_validation: 3, n_test: 2}
  iterations:
    - name: nvt
      samplers:
        - {kind: md, ensemble: nvt_langevin, temperature_K: 300, steps: 40, frame_interval: 10,
           uncertainty_threshold_eV_A: 50, start: initial}
      selection: {method: random, frames: 3}
    - name: scan
      samplers:
        - {kind: volume_scan, factor_min: 0.95, factor_max: 1.3, points: 10, picks: 4}
      selection: {method: random, frames: 2}
production:
  runs:
    - {name: nvt, ensemble: nvt, temperatures_K: [30, 40], formula_units: [2], density: given, density_g_cm3: 1.15,
       model: ensemble, timestep_fs: 0.5, classical_ps: 0.5, rescale_ps: 0.01, equilibration_ps: 0.005,
       production_ps: 0.01, frame_interval_fs: 2.5}
analysis: {rdf_bins: 100, msd_selections: [], dihedral_smarts: []}
execution: {workers: 1, production_replicas: together}
"""


def _ilflow(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ilflow", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=1200)


def _identities(root) -> dict[str, str]:
    """Stage -> identity of every current manifest (superseded ones left out)."""
    out = {}
    for path in root.rglob("manifest.json"):
        if "superseded" not in path.relative_to(root).parts:
            manifest = json.loads(path.read_text())
            out[manifest["stage"]] = manifest["identity"]
    return out


class Campaign:
    """A campaign file in tmp_path that the test edits, runs and asks for its status."""

    def __init__(self, tmp_path):
        self.tmp_path, self.root = tmp_path, tmp_path / "p"
        self.data = yaml.safe_load(CAMPAIGN)
        self.path = tmp_path / "campaign.yaml"

    def edit(self, change) -> None:
        data = copy.deepcopy(self.data)
        change(data)
        self.data = data

    def _write(self):
        self.path.write_text(yaml.safe_dump(self.data))

    def status(self) -> dict[str, dict]:
        self._write()
        result = _ilflow("status", str(self.path), "--dir", str(self.root), "--json", cwd=self.tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return {line["stage"]: line for line in json.loads(result.stdout)["stages"]}

    def run(self) -> set[str]:
        """Run the campaign; returns the stages whose identity is new."""
        before = _identities(self.root) if self.root.exists() else {}
        self._write()
        result = _ilflow("run", str(self.path), "--dir", str(self.root), cwd=self.tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        after = _identities(self.root)
        return {stage for stage, ident in after.items() if before.get(stage) != ident}


def _not_done(status: dict[str, dict]) -> dict[str, tuple]:
    return {stage: tuple(line["changed"]) for stage, line in status.items() if line["state"] not in ("done", "unused")}


@pytest.mark.slow
@pytest.mark.timeout(3600)  # several campaign runs on 2 cores
def test_edits_redo_exactly_what_changed(tmp_path):
    campaign = Campaign(tmp_path)
    root = campaign.root
    first = campaign.run()
    assert {"build", "initial", "analysis", "report", "production/nvt/2fu-30K-seed0"} <= first
    assert all(line["state"] == "done" for line in campaign.status().values())
    assert campaign.run() == set()  # nothing changed: nothing redone
    # `production_replicas: together`: both temperatures made as replicas of one MD, each in its own stage
    for T in (30, 40):
        summary = json.loads((root / "production" / "nvt" / f"2fu-{T}K-seed0" / "md" / "summary.json").read_text())
        assert summary["replicas"] == 2 and summary["target_temperature_K"] == T

    # analysis.rdf_bins: analysis and report only; the report shows the new RDF figure
    campaign.edit(lambda c: c["analysis"].update(rdf_bins=50))
    assert _not_done(campaign.status()) == {"analysis": ("analysis.rdf_bins",),
                                            "report": ("upstream analysis (stale)",)}
    assert campaign.run() == {"analysis", "report"}
    results = json.loads((root / "analysis" / "results.json").read_text())
    assert all(len(rdf["g"]) == 50 for run in results["runs"] for rdf in run["analysis"]["rdf"].values())
    page = (root / "report" / "report.html").read_text()
    assert base64.b64encode((root / "analysis" / results["figures"]["rdf"]).read_bytes()).decode() in page

    # a production temperature: that run, the analysis and the report; the old run is no longer reported
    campaign.edit(lambda c: c["production"]["runs"][0].update(temperatures_K=[30, 45]))
    assert set(_not_done(campaign.status())) == {"production/nvt/2fu-45K-seed0", "analysis", "report"}
    assert campaign.run() == {"production/nvt/2fu-45K-seed0", "analysis", "report"}
    results = json.loads((root / "report" / "results.json").read_text())
    assert all("40K" not in run["name"] for run in results["runs"])
    assert campaign.status()["production/nvt/2fu-40K-seed0"]["state"] == "unused"

    # the retraining of iteration 2: iterations 0-1 and iteration 2's sampling, selection and labels reused; the
    # superseded model and the trajectories of the production runs made with it kept aside
    before = _identities(root)
    campaign.edit(lambda c: c["learning"]["iterations"][1].update(training={"epochs": 2, "batch_size": 4}))
    status = campaign.status()
    assert status["learning/iteration-002/training"]["changed"] == ["model.training.epochs"]
    redone = campaign.run()
    assert redone == {"learning/iteration-002/training", "production/nvt/2fu-30K-seed0",
                      "production/nvt/2fu-45K-seed0", "analysis", "report"}
    assert {s for s in before if s.startswith("learning/")} - redone == {s for s in before if s.startswith("learning/")
                                                                        and s != "learning/iteration-002/training"}
    kept = list((root / "learning" / "iteration-002" / "training" / "superseded").glob("*/model/params.npz"))
    assert len(kept) == 1
    assert list((root / "production" / "nvt" / "2fu-30K-seed0" / "superseded").glob("*/md/trajectory.h5md"))

    # learning.initial.frames 10 -> 20: 20 initial frames, the 10 labels reused and 10 computed
    rows = len(Dataset(root / "learning" / "dataset.db"))
    campaign.edit(lambda c: c["learning"]["initial"].update(frames=20))
    assert campaign.status()["initial"]["changed"] == ["frames"]
    campaign.run()
    assert len(read(root / "initial" / "frames.extxyz", ":")) == 20
    notes = json.loads((root / "learning" / "iteration-000" / "labels" / "manifest.json").read_text())["notes"]
    assert notes == {"computed": 10, "reused": 10}
    labelled_later = sum(json.loads((root / f"learning/iteration-00{k}/labels/manifest.json").read_text())["notes"]
                         ["computed"] for k in (1, 2))
    assert len(Dataset(root / "learning" / "dataset.db")) == rows + 10 + labelled_later

    # a species count: everything redone, the initial frames hold the new box's atoms
    campaign.edit(lambda c: c["species"][0].update(count=3) or c["species"][1].update(count=3))
    planned = set(_identities(root)) - {"production/nvt/2fu-40K-seed0"}  # the run no longer planned stays as it was
    assert set(_not_done(campaign.status())) == planned
    assert campaign.run() == planned
    assert {len(a) for a in read(root / "initial" / "frames.extxyz", ":")} == {90}


def test_a_project_of_another_campaign_is_refused(tmp_path):
    campaign = Campaign(tmp_path)
    campaign.root.mkdir()
    (campaign.root / "project.json").write_text(json.dumps({"campaign": "other"}))
    campaign._write()
    result = _ilflow("run", str(campaign.path), "--dir", str(campaign.root), "--until", "build", cwd=tmp_path)
    assert result.returncode == 2 and "'other', not 'edits'" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in campaign.root.iterdir()) == ["project.json"]
