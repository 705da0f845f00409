"""The campaign schema: the examples validate; bad files are rejected with key path and line."""

from pathlib import Path

import pytest

from conftest import REPO
from ilflow.config import load_campaign, parse_campaign
from ilflow.errors import ConfigError

GOOD = """\
name: t
species:
  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}
  - {name: BF4, smiles: "F[B-](F)(F)F", count: 2}
box:
  density_g_cm3: 1.2
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_campaign(text, source="c.yaml")
    return str(info.value)


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_examples_validate(name):
    campaign = load_campaign(REPO / "examples" / name)
    assert [s.name for s in campaign.species] == ["BMIM", "BF4"]


def test_paper_example_holds_the_study_settings():
    c = load_campaign(REPO / "examples" / "paper.yaml")
    assert (c.species[0].count, c.box.density_g_cm3, c.box.tolerance_A) == (10, 1.210, 2.0)
    assert c.reference.method == "cp2k" and c.reference.cutoff_Ry == 800 and c.reference.d3_three_body
    assert c.model.ensemble_size == 2 and c.model.hidden_layers == [512, 512] and c.model.n_basis == 7
    lr = c.model.training.learning_rates
    assert (lr.contraction, lr.network, lr.scale, lr.shift) == (0.01, 0.005, 0.001, 0.05)
    w = c.model.training.loss_weights
    assert (w.energy, w.forces, w.stress) == (1.0, 4.0, 0.2)
    init = c.learning.initial
    assert (init.n_train, init.n_validation, init.n_test, init.n_selected, init.split_seed) == (100, 100, 500, 400, 1234)
    # Table 1: 17 iterations after iteration 0
    assert sum(it.repeat for it in c.learning.iterations) == 17
    new_frames = sum(it.repeat * it.selection.frames for it in c.learning.iterations)
    assert new_frames == 4 * 50 + 3 * 50 + 3 * 50 + 20 + 50 + 100 + 50 + 100 + 105 + 164
    nvt = c.production.runs[0]
    assert nvt.temperatures_K == [283, 293, 313, 333, 353] and nvt.formula_units == [8, 16, 32]


def test_examples_dir_is_the_packaged_copy():
    packaged = REPO / "src" / "ilflow" / "examples"
    for name in ("demo.yaml", "paper.yaml"):
        assert (REPO / "examples" / name).read_text() == (packaged / name).read_text()


def test_good_minimal_campaign_gets_defaults():
    c = parse_campaign(GOOD)
    assert c.box.tolerance_A == 2.0 and c.box.seed == 42
    assert c.reference.method == "xtb" and c.execution.cluster == "local"


def test_unknown_key_names_path_and_line():
    message = _error(GOOD + "  colour: blue\n")
    assert "c.yaml:7: box.colour: unknown key" in message


def test_key_without_unit_suggests_the_unit():
    message = _error(GOOD.replace("density_g_cm3: 1.2", "density: 1.2"))
    assert "c.yaml:6: box.density: unknown key" in message and "density_g_cm3" in message
    assert "box.density_g_cm3: required key is missing" in message


def test_wrong_type_and_negative_values():
    message = _error(GOOD.replace("count: 2}\n  - {name: BF4", "count: two}\n  - {name: BF4"))
    assert "c.yaml:3: species.0.count" in message and "'two'" in message
    bad = GOOD + "learning:\n  iterations:\n    - samplers:\n        - {kind: md, temperature_K: -300}\n"
    message = _error(bad)
    assert "c.yaml:10: learning.iterations.0.samplers.0.md.temperature_K" in message
    assert "greater than 0" in message and "-300" in message


def test_negative_density_and_zero_count():
    message = _error(GOOD.replace("1.2", "-1.2").replace("count: 2}\n  - {name: BF4", "count: 0}\n  - {name: BF4"))
    assert "box.density_g_cm3" in message and "species.0.count" in message


def test_duplicate_key_and_yaml_syntax_errors_have_lines():
    assert "c.yaml:7: not valid YAML: duplicate key 'density_g_cm3'" in _error(GOOD + "  density_g_cm3: 1.3\n")
    assert "c.yaml:" in _error("species: [\n  - a\nbox: {")


def test_cross_field_rules():
    assert "r_min_A" in _error(GOOD + "model: {r_min_A: 6.0, r_max_A: 5.0}\n")
    assert "species names must be unique" in _error(GOOD.replace("name: BF4", "name: BMIM"))
    assert "pressure_bar" in _error(GOOD + "learning:\n  iterations:\n    - samplers: [{kind: md, ensemble: npt}]\n")


def test_missing_and_non_mapping_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_campaign(tmp_path / "nope.yaml")
    assert "mapping of sections" in _error("- just\n- a list\n")


def test_misspelt_key_inside_a_sampler_gets_a_suggestion():
    bad = GOOD + "learning:\n  iterations:\n    - samplers:\n        - {kind: relax, fmax_eV: 0.1}\n"
    message = _error(bad)
    assert "c.yaml:10: learning.iterations.0.samplers.0.relax.fmax_eV: unknown key" in message
    assert "'fmax_eV_A'" in message


def test_hybrid_production_without_dispersion_is_refused():
    text = GOOD + "production:\n  runs:\n    - {name: dens, ensemble: npt, temperatures_K: [300], formula_units: [2]}\n"
    message = _error(text)
    assert "dens" in message and "model.dispersion" in message
    parse_campaign(text.replace("formula_units: [2]}", "formula_units: [2], model: ensemble}"))


def test_the_dispersion_step_gives_k_dividing_the_frame_interval():
    """k = the largest number of steps within dispersion_step_fs that divides the steps between frames."""
    from ilflow.config.production import StatePoints

    def k(**kw):
        return StatePoints(name="p", temperatures_K=[300], **kw).dispersion_every

    assert k() == 8  # 0.5 fs, 4 fs, frames every 200 steps
    assert k(timestep_fs=1.0, frame_interval_fs=10.0) == 2  # 4 does not divide 10
    assert k(timestep_fs=1.0, frame_interval_fs=10.0, dispersion_step_fs=5.0) == 5
    assert k(dispersion_step_fs=0.5) == 1 and k(dispersion_step_fs=0.1) == 1
    assert k(timestep_fs=0.5, frame_interval_fs=3.5, dispersion_step_fs=4.0) == 7


def test_the_pressure_tensor_interval_divides_the_frames_and_meets_run_time_d3():
    """stress_interval_fs: whole steps dividing the frame interval; with run-time D3 every k steps, a multiple of k
    (the tensor includes D3 only there), refused at validation rather than when production starts."""
    from ilflow.preflight import check_campaign

    run = "{name: dens, ensemble: npt, temperatures_K: [300], formula_units: [2], timestep_fs: 1.0, " \
          "frame_interval_fs: 8, model: %s, stress_interval_fs: %s}"
    hybrid = GOOD + ("reference: {method: xtb, hamiltonian: GFN1-xTB, dispersion: remove}\n"
                     "model: {dispersion: {functional: gfn1}}\nproduction:\n  runs:\n    - " + run + "\n")
    assert "must divide frame_interval_fs" in _error(hybrid % ("hybrid", 3))
    assert "stress_interval_fs" not in parse_campaign(GOOD).model_dump(mode="json")["production"]  # absent: no key
    with pytest.raises(ConfigError, match=r"not a multiple of its run-time D3 interval \(4 steps.*multiple of 4 fs"):
        check_campaign(parse_campaign(hybrid % ("hybrid", 2)))
    check_campaign(parse_campaign(hybrid % ("hybrid", 4)))
    check_campaign(parse_campaign(hybrid % ("ensemble", 2)))  # no D3 at run time: any divisor

