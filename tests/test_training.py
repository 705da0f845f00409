"""Training: a tiny data set is overfit; the model directory round-trips; the ASE calculator agrees."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from conftest import rattled
from ilflow.config.model import LearningRates, Model, Training
from ilflow.potentials import Calculator, load_model
from ilflow.potentials.neighbors import build_neighbors
from ilflow.training.api import train_model
from ilflow.training.metrics import ErrorTable
from ilflow.training.scale_shift import energy_shift, force_scale


def _emt_frames(n, seed):
    """Rattled, slightly strained fcc Cu/Al cells (8 atoms, 3.6 Å: smaller than twice the cutoff) with EMT labels."""
    base = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 1, 1)
    base.numbers[[1, 5]] = 13  # Al
    frames = []
    rng = np.random.default_rng(seed)
    for atoms in rattled(base, n, sigma_A=0.1, seed=seed):
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.normal(0, 0.01, (3, 3))), scale_atoms=True)
        atoms.calc = EMT()
        atoms.get_stress()
        frames.append(atoms)
    return frames


SMALL = Model(hidden_layers=[32, 32], r_max_A=4.5, ensemble_size=2, precision="float64",
              training=Training(epochs=1000, batch_size=4, patience_epochs=None,
                                learning_rates=LearningRates(contraction=0.01, network=0.005, scale=0.001, shift=0.05)))


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    frames = _emt_frames(4, seed=0)
    out = tmp_path_factory.mktemp("model")
    table = train_model(frames, frames, SMALL, out)
    return frames, out, table


def test_tiny_dataset_is_overfit(overfit):
    frames, out, table = overfit
    force_rms = np.sqrt(np.mean(np.concatenate([a.get_forces() for a in frames]) ** 2)) * 1000
    assert table.forces_rmse_meV_A < 0.1 * force_rms, (table, force_rms)
    curve = [float(line.split(",")[2]) for line in (out / "learning_curve.csv").read_text().splitlines()[1:]]
    assert curve[-1] < 0.05 * curve[0]
    saved = json.loads((out / "metrics.json").read_text())["validation"]
    assert ErrorTable.from_dict(saved) == table  # metrics.json holds the same table
    for name in ("model.json", "params.npz", "learning_curve.png", "parity_validation.png"):
        assert (out / name).stat().st_size > 0


def test_calculator_forces_stress_and_uncertainty(overfit):
    frames, out, _ = overfit
    atoms = _emt_frames(1, seed=7)[0]
    atoms.calc = Calculator(out)
    forces = atoms.get_forces()
    assert np.allclose(forces, atoms.calc.calculate_numerical_forces(atoms, d=1e-4), atol=1e-6)
    stress = atoms.get_stress()
    numeric = atoms.calc.calculate_numerical_stress(atoms, d=1e-5)  # central differences of the energy
    assert np.allclose(stress, numeric, atol=1e-7)
    assert atoms.calc.results["energy_uncertainty"] > 0  # two differently seeded members
    assert atoms.calc.results["forces_uncertainty"].shape == (len(atoms), 3)
    atoms.positions[0, 0] += 0.2  # the finite differences left a strained cell in the calculator: rebuild
    atoms.get_potential_energy()
    rebuilds = atoms.calc.rebuilds
    atoms.positions[0, 0] += 0.01  # well inside the skin: the list is reused
    atoms.get_potential_energy()
    assert atoms.calc.rebuilds == rebuilds
    compiled = build_neighbors._cache_size()
    atoms.positions[0, 0] += 0.6  # 0.61 Å since the last build, beyond half the skin: rebuilt, not re-traced
    atoms.get_potential_energy()
    assert atoms.calc.rebuilds == rebuilds + 1
    assert build_neighbors._cache_size() == compiled  # (it ran op by op before: 0.4 s per build, 120 atoms)


def test_model_directory_loads_without_training_code(overfit):
    _, out, _ = overfit
    config, params, info = load_model(out)
    assert info["ensemble_size"] == 2 and params["scale"].shape == (2, 2) and config.hidden == (32, 32)
    assert config.elements == (13, 29)


def test_scale_and_shift_from_data():
    frames = _emt_frames(6, seed=3)
    for k, atoms in enumerate(frames):  # vary the composition so that the regression is determined
        atoms.numbers[: k + 1] = 13
        atoms.calc = EMT()
        atoms.get_forces()
    counts = np.array([[np.sum(a.numbers == 13), np.sum(a.numbers == 29)] for a in frames], dtype=float)
    energies = np.array([a.get_potential_energy() for a in frames])
    expected = np.linalg.solve(counts.T @ counts + 1.0 * np.eye(2), counts.T @ energies)  # ridge 1
    assert np.allclose(energy_shift(frames, (13, 29), ridge=1.0), expected)
    assert np.allclose(energy_shift(frames, (13, 29), ridge=1e-12), np.linalg.lstsq(counts, energies, rcond=None)[0])
    scale = force_scale(frames, (13, 29))
    al = np.concatenate([a.get_forces()[a.numbers == 13] for a in frames])
    assert scale[0] == pytest.approx(np.sqrt(np.mean(al**2)))


def test_train_command_writes_a_model(cli, tmp_path):
    from ilflow.data import Dataset

    dataset = Dataset(tmp_path / "d.db")
    for k, atoms in enumerate(_emt_frames(6, seed=11)):
        atoms.info.update(reference_method="emt", reference_settings_hash="x")
        dataset.add(atoms, split="train" if k < 4 else "validation")
    campaign = tmp_path / "c.yaml"
    campaign.write_text('species: [{name: Cu, smiles: "[Cu]", count: 1}]\nbox: {density_g_cm3: 8.9}\n'
                        "model: {hidden_layers: [16, 16], r_max_A: 4.0, training: {epochs: 50}}\n")
    result = cli("train", "--db", str(tmp_path / "d.db"), "--campaign", str(campaign), "--epochs", "3",
                 "-o", str(tmp_path / "m"))
    assert result.returncode == 0, result.stderr
    assert "validation energy MAE" in result.stdout
    config, _, info = load_model(tmp_path / "m")
    assert info["epochs_run"] == 3 and config.hidden == (16, 16) and config.r_max_A == 4.0
    bad = cli("train", "--db", str(tmp_path / "missing.db"), "-o", str(tmp_path / "m2"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "m2").exists()


def test_warm_start_continues_from_the_earlier_model(overfit, tmp_path):
    frames, out, table = overfit
    short = SMALL.model_copy(update={"training": SMALL.training.model_copy(update={"epochs": 2})})
    warm = train_model(frames, frames, short, tmp_path / "warm", warm_start=out)
    cold = train_model(frames, frames, short, tmp_path / "cold")
    assert warm.forces_rmse_meV_A < 0.5 * cold.forces_rmse_meV_A
    assert warm.forces_rmse_meV_A < 2.0 * table.forces_rmse_meV_A


def test_a_warm_up_keeps_a_warm_start_where_it_was(overfit, tmp_path):
    """Adam restarts with empty moments, so a warm start's first steps at the full rate move every parameter by
    about the learning rate and undo part of the earlier fit; rates that rise over the first epochs do not."""
    frames, out, table = overfit
    steps = SMALL.training.model_copy(update={"epochs": 3})
    plain = train_model(frames, frames, SMALL.model_copy(update={"training": steps}), tmp_path / "plain", out)
    warm_up = steps.model_copy(update={"warmup_epochs": 3.0})
    gentle = train_model(frames, frames, SMALL.model_copy(update={"training": warm_up}), tmp_path / "gentle", out)
    assert gentle.forces_rmse_meV_A < plain.forces_rmse_meV_A
    assert gentle.forces_rmse_meV_A < 1.5 * table.forces_rmse_meV_A


def test_warm_up_rises_linearly_and_is_absent_from_the_settings_when_unused():
    from ilflow.training.trainer import decay_factor

    total, warmup = 40, 8
    for step in range(total):
        rise = min(1.0, (step + 1) / warmup)
        assert decay_factor(step, total, warmup=warmup) == pytest.approx(rise * decay_factor(step, total))
    assert "warmup_epochs" not in Training().model_dump()  # stage identities of earlier campaigns unchanged
    settings = Training(warmup_epochs=1.5)
    assert Training.model_validate(settings.model_dump()) == settings


def test_learning_rate_decay_is_optax_cosine_schedule():
    """The per-step factor applied to every group's rate follows optax's cosine decay to 1% (the schedule the
    trainer used before the rates left the compiled step), and training twice reuses one optimiser object."""
    import optax

    from ilflow.training.trainer import decay_factor, make_optimizer

    total = 37
    reference = optax.cosine_decay_schedule(1.0, total, alpha=0.01)
    for step in (0, 1, 10, 18, 36, 37, 50):
        assert decay_factor(step, total) == pytest.approx(float(reference(step)), rel=1e-6)
    assert make_optimizer(Training()) is make_optimizer(Training())
