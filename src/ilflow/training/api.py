"""Train a model directory from labelled frames: parameters, metrics.json, learning curve, parity plots."""

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from ase import Atoms

from ilflow.config.model import Model
from ilflow.errors import IlflowError
from ilflow.potentials.gmnn import GMNNConfig
from ilflow.potentials.model_io import load_model, save_model
from ilflow.project import atomic_path, atomic_write_text
from ilflow.runtime import ensure_configured
from ilflow.training import metrics, plots
from ilflow.training.data import to_buckets
from ilflow.training.trainer import evaluate, train


def gmnn_config(model: Model, elements: Sequence[int]) -> GMNNConfig:
    dtype = "float64" if model.precision == "float64" else "float32"
    return GMNNConfig(elements=tuple(sorted(int(z) for z in elements)), n_basis=model.n_basis, n_radial=model.n_radial,
                      r_min_A=model.r_min_A, r_max_A=model.r_max_A, hidden=tuple(model.hidden_layers), dtype=dtype)


def train_model(train_frames: Sequence[Atoms], val_frames: Sequence[Atoms], model: Model, out_dir: str | Path,
                warm_start: str | Path | None = None) -> metrics.ErrorTable:
    """Train an ensemble and write the model directory; returns the validation metrics."""
    ensure_configured()  # labels, scale/shift and the summed energies in float64
    if not train_frames or not val_frames:
        raise IlflowError(f"training needs labelled train and validation frames (got {len(train_frames)} and "
                          f"{len(val_frames)}); label frames into those splits first")
    out_dir = Path(out_dir)
    params = None
    elements = {int(z) for a in list(train_frames) + list(val_frames) for z in a.numbers}
    config = gmnn_config(model, elements)
    if warm_start is not None:
        config, params, _ = load_model(warm_start)
        missing = elements - set(config.elements)
        if missing:
            raise IlflowError(f"warm start model {str(warm_start)!r} lacks elements {sorted(missing)}")
    params, history = train(config, train_frames, val_frames, model.training, model.ensemble_size, params)
    weights = (model.training.loss_weights.energy, model.training.loss_weights.forces,
               model.training.loss_weights.stress)
    _, evaluated = evaluate(config, params, to_buckets(val_frames, config.elements, config.cutoff_A), weights)
    arrays = metrics.collect(evaluated, config.elements)
    table = metrics.error_table(arrays)
    save_model(out_dir, config, params, {"trained_on": len(train_frames), "validated_on": len(val_frames),
                                         "epochs_run": len(history.rows), "best_epoch": history.best()["epoch"]})
    atomic_write_text(out_dir / "metrics.json", json.dumps({"validation": table.to_dict()}, indent=2) + "\n")
    with atomic_path(out_dir / "learning_curve.csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(history.rows[0]))
            writer.writeheader()
            writer.writerows(history.rows)
    plots.learning_curve(history.rows, out_dir / "learning_curve.png")
    plots.parity(arrays, out_dir / "parity_validation.png", "validation set")
    return table


def check_frames(frames: Sequence[Atoms], elements: Sequence[int], model_dir: str | Path) -> None:
    """IlflowError unless every frame carries energy and force labels and only elements the model knows."""
    from ase.data import chemical_symbols

    unlabelled = [k for k, a in enumerate(frames) if a.calc is None or not {"energy", "forces"} <= set(a.calc.results)]
    if unlabelled:
        raise IlflowError(f"{len(unlabelled)} of {len(frames)} frames have no energy and force labels (first: frame "
                          f"{unlabelled[0]}); label them first (ilflow label) or give labelled frames")
    foreign = sorted({int(z) for a in frames for z in a.numbers} - set(elements))
    if foreign:
        raise IlflowError(f"the frames contain {', '.join(chemical_symbols[z] for z in foreign)}, which model "
                          f"{str(model_dir)!r} was not trained on (it knows "
                          f"{', '.join(chemical_symbols[z] for z in elements)}); use a model trained on these elements")


def model_errors(model_dir: str | Path, frames: Sequence[Atoms]) -> metrics.ErrorTable:
    """Energy, force and stress errors (MAE/RMSE) of the ensemble mean of a model directory on labelled frames."""
    ensure_configured()  # labels and the summed energies in float64
    config, params, _ = load_model(model_dir)
    check_frames(frames, config.elements, model_dir)
    _, evaluated = evaluate(config, params, to_buckets(frames, config.elements, config.cutoff_A))
    return metrics.error_table(metrics.collect(evaluated, config.elements))
