"""Experimental tables found by the liquid they describe: canonical SMILES and reduced ratios, shipped tables
against their published fits, user tables for another liquid refused before anything runs."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ilflow.analysis import experiment
from ilflow.analysis.trajectory import AnalysisError

BMIM, BF4 = "CCCCn1cc[n+](C)c1", "F[B-](F)(F)F"


def _species(*pairs):
    return [SimpleNamespace(smiles=s, count=n) for s, n in pairs]


def test_a_liquid_is_its_canonical_smiles_and_reduced_ratio(tmp_path):
    # another atom order of both ions and another box size: the same liquid
    assert experiment.liquid([("C1=C[N+](C)=CN1CCCC", 8), ("[B-](F)(F)(F)F", 8)]) == experiment.liquid(
        [(BMIM, 1), (BF4, 1)])
    mixture = experiment.liquid([(BMIM, 4), (BF4, 4), ("O", 2)])
    assert sorted(n for _, n in mixture) == [1, 2, 2]
    assert mixture != experiment.liquid([(BMIM, 1), (BF4, 1), ("O", 1)])
    assert experiment.describe(mixture).count(" + ") == 2
    line = tmp_path / "t.csv"
    line.write_text(f"# species:  {experiment.describe(mixture)}\ntemperature_K,density_g_cm3\n300,1.2\n")
    assert experiment.table_liquid(line) == mixture


def test_the_shipped_bmim_bf4_tables_are_found_by_species_and_others_get_none():
    density = experiment.table_for("density", None, _species(("[B-](F)(F)(F)F", 10), ("C1=C[N+](C)=CN1CCCC", 10)))
    assert density is not None and density.name == "bmim_bf4_density.csv"
    assert experiment.table_for("viscosity", None, _species((BMIM, 4), (BF4, 4))).name == "bmim_bf4_viscosity.csv"
    assert experiment.table_for("density", None, _species((BMIM, 4), ("N#C[N-]C#N", 4))) is None
    emim_ntf2 = _species(("CCn1cc[n+](C)c1", 3), ("O=S(=O)([N-]S(=O)(=O)C(F)(F)F)C(F)(F)F", 3))
    assert experiment.table_for("density", None, emim_ntf2).name == "emim_ntf2_density.csv"
    assert experiment.table_for("density", None, _species((BMIM, 4), (BF4, 4), ("O", 2))) is None  # a mixture


def test_the_shipped_conductivity_follows_its_points_and_the_published_fit_and_user_tables_convert_units(tmp_path):
    path = experiment.table_for("conductivity", None, _species((BMIM, 4), (BF4, 4)))
    assert path is not None and path.name == "bmim_bf4_conductivity.csv"
    vft = lambda T: np.exp(4.9629 - 780.04 / (T - 168.03))  # the header's fit, S/m  # noqa: E731
    for T in (278.0, 298.0, 323.0, 353.0):
        assert experiment.conductivity_S_m(T, path) == pytest.approx(vft(T), rel=0.03)
    # 298 K: three sources, 0.353-0.436 S/m; the fit through all 26 points gives 0.352
    assert 0.95 * 0.353 <= experiment.conductivity_S_m(298.0, path) <= 0.436
    with pytest.raises(AnalysisError, match="too far outside the conductivity table"):
        experiment.conductivity_S_m(400.0, path)
    user = tmp_path / "kappa.csv"
    user.write_text("# source: test\ntemperature_K,conductivity_mS_cm\n300,4.0\n320,7.0\n")
    assert experiment.conductivity_S_m(300.0, user) == pytest.approx(0.4)  # 1 mS/cm = 0.1 S/m
    assert experiment.conductivity_S_m(310.0, user) == pytest.approx(0.1 * np.exp(np.interp(
        1 / 310, [1 / 320, 1 / 300], np.log([7.0, 4.0]))))  # Arrhenius between two points


@pytest.mark.parametrize("path", experiment.shipped_tables("density"), ids=lambda p: p.stem)
def test_every_shipped_density_table_names_its_liquid_and_source_and_is_physical(path):
    """Each table: a species line, a source, values in the range of ionic liquids with a thermal expansion
    coefficient of one, a straight line within the measurements' scatter, and the fit its header states."""
    text = path.read_text(encoding="utf-8")
    assert experiment.table_liquid(path) is not None
    assert any(line.lower().startswith("# source:") for line in text.splitlines())
    T, rho, column = experiment.read_table(path, experiment.VALUE_COLUMNS["density"])
    rho_g_cm3 = rho / 1000.0 if column == "density_kg_m3" else rho
    # ionic liquids: 1.0-1.8 g/cm3, thermal expansion 4e-4 to 8e-4 per K (all of ILThermo's imidazolium salts)
    assert np.all((rho_g_cm3 > 1.0) & (rho_g_cm3 < 1.8))
    slope, intercept = np.polyfit(T, rho_g_cm3, 1)
    alpha = -slope / (intercept + slope * 298.15)
    assert 4e-4 < alpha < 8e-4
    residual = rho_g_cm3 - (intercept + slope * T)
    assert np.max(np.abs(residual)) < 2e-3  # a straight line in T within the measurements' scatter
    stated = next((line for line in text.splitlines() if line.startswith("# Linear fit")), None)
    if stated:  # "rho = A - B*T (kg/m3, ...)"
        a, b = (float(x) for x in stated.split("rho = ")[1].split("*T")[0].split(" - "))
        for T_K in (T[0], 320.0, T[-1]):
            # 0.5 kg/m3: the BMIM-BF4 header fits the whole set (273-363 K), the file holds 283-353 K
            assert experiment.density_g_cm3(T_K, path) == pytest.approx((a - b * T_K) / 1000.0, abs=5e-4)


def test_a_user_table_for_another_liquid_is_refused_and_a_matching_one_used(tmp_path):
    table = tmp_path / "emim_dca.csv"
    table.write_text("# species: CCn1cc[n+](C)c1 + N#C[N-]C#N\n# source: made up for this test\n"
                     "temperature_K,density_g_cm3\n298.15,1.10\n")
    with pytest.raises(AnalysisError, match="is for CCn1cc.n.*campaign's liquid is"):
        experiment.table_for("density", str(table), _species((BMIM, 4), (BF4, 4)))
    emim_dca = _species(("CCN1C=C[N+](C)=C1", 2), ("[N-](C#N)C#N", 2))
    assert experiment.table_for("density", str(table), emim_dca) == table
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("temperature_K,density_g_cm3\n298.15,abc\n")
    with pytest.raises(AnalysisError, match="needs a number"):
        experiment.table_for("density", str(unnamed), emim_dca)
    with pytest.raises(AnalysisError, match="does not exist"):
        experiment.table_for("density", str(tmp_path / "missing.csv"), emim_dca)


def test_validate_refuses_a_user_table_for_another_liquid(cli, tmp_path):
    from importlib import resources

    table = tmp_path / "other.csv"
    table.write_text("# species: CCn1cc[n+](C)c1 + N#C[N-]C#N\ntemperature_K,density_g_cm3\n298.15,1.10\n")
    demo = (resources.files("ilflow") / "examples" / "demo.yaml").read_text()
    campaign = tmp_path / "c.yaml"
    campaign.write_text(demo.replace("analysis:\n", f"analysis:\n  experimental_density_csv: {table}\n", 1))
    result = cli("validate", str(campaign))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "experimental_density_csv" in result.stderr and "campaign's liquid is" in result.stderr
    assert Path(table).exists()


def test_validate_names_the_tables_the_report_will_compare_with(cli):
    from importlib import resources

    result = cli("validate", str(resources.files("ilflow") / "examples" / "demo.yaml"))
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("experiment:"))
    assert "density" in line and "bmim_bf4_density.csv" in line and "bmim_bf4_viscosity.csv" in line
