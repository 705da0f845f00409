"""Final models: variants of the learning's labels (dispersion removed / D3 added by ilflow's D3, checked against
the independent `dftd3` package), the hybrid's run-time D3, and campaigns that would mix incompatible dispersion
refused at validation."""

import json
import textwrap

import numpy as np
import pytest

from ilflow.config import parse_campaign
from test_cli_errors import _assert_clean_failure
from test_d3 import reference

TINY = """
name: tiny-final
species:
  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}
  - {name: BF4, smiles: "F[B-](F)(F)F", count: 2}
box: {density_g_cm3: 1.0, seed: 42}
reference: {method: ase, calculator: "ase.calculators.lj:LennardJones", kwargs: {sigma: 1.0, epsilon: 0.01, rc: 4.0}}
model:
  r_max_A: 4.0
  hidden_layers: [8, 8]
  training: {epochs: 2, batch_size: 4}
learning:
  initial: {source: bootstrap, frames: 8, n_train: 4, n_validation: 2, n_test: 2}
final_models:
  - {name: plain}
  - name: d3-6A
    labels_d3: {functional: b97-3c, cutoff_A: 6.0}
  - name: hybrid
    of: plain
    run_time_d3: {functional: b97-3c, cutoff_A: 8.0}
production:
  runs:
""" + "".join(f"""    - {{name: density-{m}, ensemble: npt, temperatures_K: [30], formula_units: [2], model: {m}, timestep_fs: 0.5,
       density: given, density_g_cm3: 1.15,
       classical_ps: 0.5, rescale_ps: 0.01, equilibration_ps: 0.005, production_ps: 0.02, frame_interval_fs: 2.5}}
""" for m in ("plain", "d3-6A", "hybrid")) + """analysis: {rdf_bins: 50, msd_selections: [], dihedral_smarts: []}
execution: {workers: 1}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from ilflow.project import Project
    from ilflow.workflow import run_campaign

    root = tmp_path_factory.mktemp("final")
    campaign = parse_campaign(TINY)
    run_campaign(campaign, root, until="final")
    return campaign, Project(root)


def test_variant_labels_are_stored_labels_plus_d3_of_the_variant(project):
    """Every train/validation/test frame of the D3 variant: the dataset's label + D3(BJ, b97-3c, 6 Å) computed here
    by simple-dftd3; the plain variant trains on the stored labels themselves (no copy written)."""
    from ilflow.active.final import RECORD, read_variant_labels
    from ilflow.active.records import FinalModelRecord, TrainingRecord
    from ilflow.data.store import Dataset, structure_hash
    from ilflow.potentials.d3 import d3_config
    from ilflow.reference import make_labeler

    campaign, project = project
    splits = TrainingRecord.load(project.stage_dir(project.iteration_stage(0, "training")) / "training.json")
    variant = read_variant_labels(project, "d3-6A")
    assert [a.info["split"] for a in variant] == (["train"] * len(splits.train) + ["validation"] * 2 + ["test"] * 2)
    stored = Dataset(project.dataset_path).labelled(make_labeler(campaign.reference).settings_id,
                                                    [structure_hash(a) for a in variant])
    for atoms in variant:
        label = stored[structure_hash(atoms)]
        config = d3_config(sorted(set(atoms.numbers)), cutoff_A=6.0, cn_cutoff_A=6.0)
        e, f, s = reference(atoms, config)
        assert abs(e) > 1e-3  # the D3 term is not negligible
        assert atoms.get_potential_energy() == pytest.approx(label.get_potential_energy() + e, abs=1e-6)
        assert np.abs(atoms.get_forces() - (label.get_forces() + f)).max() < 1e-5
        assert np.abs(atoms.get_stress() - (label.get_stress() + s)).max() < 1e-6
        assert json.loads(atoms.info["d3_added"])["cutoff_A"] == 6.0
    assert not (project.stage_dir("final/plain") / "labels.extxyz").exists()
    record = FinalModelRecord.load(project.stage_dir("final/d3-6A") / RECORD)
    assert record.train_frames == len(splits.train) and record.test is not None
    assert record.labels.endswith(" + D3(BJ, b97-3c, 6.00 Å)")


def test_hybrid_is_its_base_ensemble_plus_run_time_d3(project):
    from ilflow.active.final import resolve_model

    campaign, project = project
    hybrid, manifest = resolve_model(campaign, project, "hybrid")
    assert hybrid.directory == project.stage_dir("final/plain") / "model" and manifest.stage == "final/plain"
    assert hybrid.dispersion["functional"] == "b97-3c" and hybrid.dispersion["cutoff_A"] == 8.0
    assert resolve_model(campaign, project, "plain")[0].dispersion is None


def test_final_models_are_stages_an_edit_redoes_alone(project):
    """Editing one variant's D3 makes that variant stale and leaves the others done."""
    from ilflow.workflow import campaign_status

    campaign, project = project
    edited = parse_campaign(TINY.replace("cutoff_A: 6.0", "cutoff_A: 7.0"))
    states = {s.stage: s.state for s in campaign_status(edited, project.root)}
    assert states["final/d3-6A"] == "stale" and states["final/plain"] == "done"


HYBRID_CASES = {
    "GFN2 without D4 + D3": ("reference: {method: xtb, hamiltonian: GFN2-xTB, dispersion: remove}",
                             "{functional: b97-3c, cutoff_A: 20}", ["not the D4 taken out", "GFN1-xTB"]),
    "GFN1 without D3 + B97-3c's D3": ("reference: {method: xtb, hamiltonian: GFN1-xTB, dispersion: remove}",
                                      "{functional: b97-3c, cutoff_A: 20}", ["'gfn1'", "b97-3c"]),
}


@pytest.mark.parametrize("case", list(HYBRID_CASES))
def test_a_hybrid_with_incompatible_dispersion_is_refused(cli, tmp_path, case):
    reference_line, d3, fragments = HYBRID_CASES[case]
    campaign = tmp_path / "c.yaml"
    campaign.write_text(textwrap.dedent(f"""
        species:
          - {{name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}}
          - {{name: BF4, smiles: "F[B-](F)(F)F", count: 2}}
        box: {{density_g_cm3: 1.2}}
        {reference_line}
        final_models:
          - {{name: free}}
          - {{name: hybrid, of: free, run_time_d3: {d3}}}
        """))
    result = cli("validate", str(campaign))
    _assert_clean_failure(result, "final model 'hybrid'", *fragments)


def test_gfn1_hybrid_and_gfn2_labels_with_d4_are_told_apart():
    """GFN1 without its D3 + run-time D3(gfn1) is the study's hybrid; GFN2 labels with their D4 plus run-time D3
    count dispersion twice; a variant cannot be made dispersion-free from GFN2's D4."""
    species = ('species: [{name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}, '
               '{name: BF4, smiles: "F[B-](F)(F)F", count: 2}]\nbox: {density_g_cm3: 1.2}\n')
    ok = parse_campaign(species + "reference: {method: xtb, hamiltonian: GFN1-xTB, dispersion: remove}\n"
                        "final_models: [{name: free}, {name: hybrid, of: free, run_time_d3: {functional: gfn1}}]\n")
    assert ok.final_model("hybrid").run_time_d3.functional == "gfn1"
    with pytest.raises(Exception, match="count twice"):
        parse_campaign(species + "model: {dispersion: {functional: b97-3c}}\n"
                       "production: {runs: [{name: d, temperatures_K: [300], model: hybrid}]}\n")
    with pytest.raises(Exception, match="cannot remove"):
        parse_campaign(species + "final_models: [{name: free}]\n")


def test_production_analysis_and_report_per_final_model(project):
    """Each production run uses the model it names (the hybrid: plain's ensemble + D3); the report shows the final
    models, one density series per model and the RDFs by model."""
    from ilflow.production.records import RunRecord
    from ilflow.workflow import run_campaign

    campaign, project = project
    run_campaign(campaign, project.root)
    records = {m: RunRecord.load(project.production_dir(f"density-{m}", "2fu-30K-seed0") / "run.json")
               for m in ("plain", "d3-6A", "hybrid")}
    assert records["hybrid"].dispersion["cutoff_A"] == 8.0 and "D3" in records["hybrid"].force_field
    assert records["plain"].dispersion is None and records["d3-6A"].dispersion is None
    results = json.loads((project.analysis_dir / "results.json").read_text())
    assert {row["model"] for row in results["density"]} == {"plain", "d3-6A", "hybrid"}
    assert [m["name"] for m in results["learning"]["final_models"]] == ["plain", "d3-6A", "hybrid"]
    assert "rdf_models" in results["figures"]
    page = (project.report_dir / "report.html").read_text()
    assert "Final models" in page and "the ensemble of plain" in page and "D3(BJ, b97-3c, 8.00 Å)" in page
