"""Bad input: one clear message naming the input, exit status 2, no traceback, nothing half-written."""

import os

import pytest

from conftest import BF4, BMIM


def _assert_clean_failure(result, *fragments: str):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def _build(cli, tmp_path, *args, env=None):
    out = tmp_path / "box.extxyz"
    result = cli("build", *args, "-o", str(out), env=env)
    return result, out


def _no_files_left(tmp_path):
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())  # not even a temp file


def test_invalid_smiles_is_named(cli, tmp_path):
    result, out = _build(cli, tmp_path, "-s", "BAD:2:C1CC(", "-s", f"BF4:2:{BF4}", "--density-g-cm3", "1.2")
    _assert_clean_failure(result, "species 'BAD'", "SMILES 'C1CC(' is not valid")
    _no_files_left(tmp_path)


def test_net_charge_is_refused_unless_allowed(cli, tmp_path):
    result, out = _build(cli, tmp_path, "-s", f"BMIM:3:{BMIM}", "-s", f"BF4:2:{BF4}", "--density-g-cm3", "1.0")
    _assert_clean_failure(result, "net charge of +1 e", "3 x BMIM (+1)", "2 x BF4 (-1)", "allow_net_charge")
    _no_files_left(tmp_path)
    result, out = _build(cli, tmp_path, "-s", f"BMIM:3:{BMIM}", "-s", f"BF4:2:{BF4}", "--density-g-cm3", "1.0",
                         "--allow-net-charge")
    assert result.returncode == 0, result.stderr
    assert "charge +1 e" in result.stdout and out.exists()


def test_impossible_density_names_density_and_tolerance(cli, tmp_path):
    result, _ = _build(cli, tmp_path, "-s", f"BMIM:10:{BMIM}", "-s", f"BF4:10:{BF4}", "--density-g-cm3", "2.5")
    _assert_clean_failure(result, "density 2.5 g/cm3", "tolerance 2.0 Å", "lower density", "compress")
    _no_files_left(tmp_path)


@pytest.mark.parametrize("count", ["0", "-3"])
def test_zero_or_negative_count(cli, tmp_path, count):
    result, _ = _build(cli, tmp_path, "-s", f"BMIM:{count}:{BMIM}", "--density-g-cm3", "1.2")
    _assert_clean_failure(result, f"--species 'BMIM:{count}:{BMIM}'", "count", "greater than 0")
    _no_files_left(tmp_path)


def test_zero_count_in_a_campaign_names_its_line(cli, tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(f'species:\n  - {{name: BMIM, smiles: "{BMIM}", count: 0}}\nbox: {{density_g_cm3: 1.2}}\n')
    result = cli("build", "--campaign", str(campaign), "-o", str(tmp_path / "box.extxyz"))
    _assert_clean_failure(result, "c.yaml:2: species.0.count", "greater than 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_packmol_missing(cli, tmp_path):
    env = dict(os.environ, ILFLOW_PACKMOL=str(tmp_path / "no-packmol"))
    result, _ = _build(cli, tmp_path, "-s", f"BMIM:1:{BMIM}", "-s", f"BF4:1:{BF4}", "--density-g-cm3", "1.0", env=env)
    _assert_clean_failure(result, "ILFLOW_PACKMOL", "not an executable")
    _no_files_left(tmp_path)


def test_packmol_failing_shows_its_last_lines(cli, tmp_path):
    # the pre-check is switched off, so real PACKMOL tries and fails (2 pairs in a 7.5 Å box)
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        f'species:\n  - {{name: BMIM, smiles: "{BMIM}", count: 2}}\n  - {{name: BF4, smiles: "{BF4}", count: 2}}\n'
        "box: {density_g_cm3: 1.78, max_packed_fraction: 0.99}\n"
    )
    result = cli("build", "--campaign", str(campaign), "-o", str(tmp_path / "box.extxyz"))
    _assert_clean_failure(result, "PACKMOL found no packing", "tolerance 2.0 Å", "PACKMOL's last lines", "STOP")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_bad_species_syntax_and_missing_density(cli, tmp_path):
    result, _ = _build(cli, tmp_path, "-s", "BMIM-only", "--density-g-cm3", "1.2")
    _assert_clean_failure(result, "NAME:COUNT:SMILES")
    result, _ = _build(cli, tmp_path, "-s", f"BMIM:1:{BMIM}")
    _assert_clean_failure(result, "--density-g-cm3 is required")
    result, _ = _build(cli, tmp_path, "-s", f"BMIM:1:{BMIM}", "--density-g-cm3", "-1", "--allow-net-charge")
    _assert_clean_failure(result, "--density-g-cm3", "greater than 0")
    _no_files_left(tmp_path)


def test_validate_reports_every_problem(cli, tmp_path):
    campaign = tmp_path / "c.yaml"
    campaign.write_text("species: []\nbox: {density: 1.2}\nexecution: {cluster: address}\n")
    result = cli("validate", str(campaign))
    _assert_clean_failure(result, "c.yaml:1: species", "c.yaml:2: box.density: unknown key",
                          "did you mean 'density_g_cm3'", "c.yaml:3: execution", "address")


def test_existing_output_survives_a_failed_build(cli, tmp_path):
    out = tmp_path / "box.extxyz"
    out.write_text("precious\n")
    result = cli("build", "-s", "X:1:C1CC(", "--density-g-cm3", "1.0", "-o", str(out))
    assert result.returncode == 2
    assert out.read_text() == "precious\n"


def test_label_and_data_commands_reject_bad_input(cli, tmp_path):
    result = cli("label", str(tmp_path / "missing.extxyz"), "--db", str(tmp_path / "d.db"))
    _assert_clean_failure(result, "missing.extxyz", "does not exist")
    frames = tmp_path / "f.extxyz"
    frames.write_text("1\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\nH 0 0 0\n")
    result = cli("label", str(frames), "--db", str(tmp_path / "d.db"), "--split", "training")
    _assert_clean_failure(result, "--split 'training'", "train, validation, test, pool")
    result = cli("data", "info", str(tmp_path / "nothing.db"))
    _assert_clean_failure(result, "nothing.db", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.extxyz"]


def test_a_liquid_without_a_density_table_is_refused_before_the_build(cli, tmp_path):
    """The demo with dicyanamide for BF4: its production runs start at the experimental density, which ilflow does
    not ship for BMIM-DCA; validate and run say so before anything is built (not after an hour of learning)."""
    from importlib import resources

    demo = (resources.files("ilflow") / "examples" / "demo.yaml").read_text()
    campaign = tmp_path / "bmim_dca.yaml"
    campaign.write_text(demo.replace('{name: BF4, smiles: "F[B-](F)(F)F"', '{name: DCA, smiles: "N#C[N-]C#N"'))
    assert "DCA" in campaign.read_text()
    for command in (("validate", str(campaign)), ("run", str(campaign), "-d", str(tmp_path / "project"))):
        _assert_clean_failure(cli(*command), "no density table for BMIM-DCA", "[EMIM][BF4]",
                              "analysis.experimental_density_csv")
    assert not (tmp_path / "project").exists()


def test_elements_the_cp2k_preset_lacks_are_refused_at_validation(cli, tmp_path):
    """BMIM bromide with CP2K: the preset's basis sets stop at argon, so every label would fail; validate says so."""
    campaign = tmp_path / "br.yaml"
    campaign.write_text(f'species:\n  - {{name: BMIM, smiles: "{BMIM}", count: 2}}\n'
                        '  - {name: Br, smiles: "[Br-]", count: 2}\nbox: {density_g_cm3: 1.3}\n'
                        "reference: {method: cp2k}\n")
    _assert_clean_failure(cli("validate", str(campaign)), "H to Ar only", "contain Br", "method: xtb")


def test_elements_beyond_the_d3_reference_data_are_refused_at_validation(cli, tmp_path):
    """Curium chloride with a hybrid model (run-time D3): D3's C6 references stop at plutonium (Z = 94)."""
    campaign = tmp_path / "cm.yaml"
    campaign.write_text('species:\n  - {name: Cm, smiles: "[Cm+3]", count: 1}\n'
                        '  - {name: Cl, smiles: "[Cl-]", count: 3}\nbox: {density_g_cm3: 3.0}\n'
                        'reference: {method: ase, calculator: "ase.calculators.lj:LennardJones"}\n'
                        "model: {dispersion: {functional: b97-3c}}\n")
    _assert_clean_failure(cli("validate", str(campaign)), "model.dispersion", "H to Pu")
