"""Model commands: `train` a GMNN ensemble on a dataset, `evaluate` its errors on labelled frames."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ilflow.cli.guard import atomic_directory, output_directory, output_file
from ilflow.cli.options import console, open_dataset
from ilflow.cli.render import progress_shown
from ilflow.errors import ConfigError


def _stress(table: dict) -> str:
    """The stress MAE part of an error line, when the table has one."""
    return f", stress MAE {table.stress_mae_meV_A3:.2f} meV/Å3" if table.stress_mae_meV_A3 is not None else ""


def train(
    db: Annotated[str, typer.Option(help="Dataset (ase.db) with `train` and `validation` splits.")] = "data.db",
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")] = Path("model"),
    campaign: Annotated[Optional[Path], typer.Option(help="Take `model` (and its `training`) from this campaign.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override model.training.epochs.")] = None,
    warm_start: Annotated[Optional[Path], typer.Option(help="Continue from this model directory.")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it holds a model or other files.")] = False,
) -> None:
    """Train a GMNN ensemble on the dataset's train split, validated on its validation split.

    Writes the model (model.json, params.npz), metrics.json, learning_curve.csv/png and parity plots.
    """
    from ilflow.config import load_campaign
    from ilflow.config.model import Model
    from ilflow.potentials.model_io import load_model
    from ilflow.training.api import train_model

    model = load_campaign(campaign).model if campaign else Model()
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs {epochs}: must be at least 1")
        model = model.model_copy(update={"training": model.training.model_copy(update={"epochs": epochs})})
    output_directory("--out", out, "model", inputs=[db, warm_start, campaign], force=force)
    if warm_start is not None:
        load_model(warm_start)  # a broken warm start fails before the data are read
    dataset = open_dataset(db)
    train_frames, val_frames = list(dataset.frames(split="train")), list(dataset.frames(split="validation"))
    console.print(f"training {model.ensemble_size} x GMNN {model.hidden_layers} on {len(train_frames)} frames, "
                  f"validating on {len(val_frames)}")
    with progress_shown(), atomic_directory(out) as tmp:  # a failed or interrupted training leaves --out as it was
        table = train_model(train_frames, val_frames, model, tmp, warm_start)
    console.print(f"{out}: validation energy MAE {table.energy_mae_meV_atom:.2f} meV/atom, forces MAE "
                  f"{table.forces_mae_meV_A:.1f} meV/Å" + _stress(table))


def evaluate(
    model: Annotated[Path, typer.Option(help="Model directory.")],
    db: Annotated[Optional[str], typer.Option(help="Labelled frames from this dataset (ase.db).")] = None,
    frames: Annotated[Optional[Path], typer.Option(help="Or labelled frames from this extxyz file.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Only this split of the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the error table as JSON here.")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not an error table.")] = False,
) -> None:
    """Errors (MAE, RMSE) of a model's ensemble mean on labelled frames: energy, forces (per element), stress."""
    from ilflow.io import read_frames
    from ilflow.training.api import model_errors

    from ilflow.data import SPLITS
    from ilflow.potentials.model_io import load_model

    if (db is None) == (frames is None):
        raise ConfigError("give exactly one of --db and --frames")
    if split is not None and split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    if out is not None:
        output_file("--out", out, "json", inputs=[model, db, frames], force=force,
                    json_keys=("structures", "forces_mae_meV_A"))
    load_model(model)  # a broken model fails before the frames are read
    labelled = list(open_dataset(db).frames(split=split)) if db else read_frames(frames)
    if not labelled:
        raise ConfigError(f"no labelled frames in {db or frames}" + (f" (split {split})" if split else ""))
    table = model_errors(model, labelled)
    if out:
        table.save(out)
    console.print(f"{len(labelled)} frames: energy MAE {table.energy_mae_meV_atom:.2f} meV/atom, forces MAE "
                  f"{table.forces_mae_meV_A:.1f} meV/Å (RMSE {table.forces_rmse_meV_A:.1f})" + _stress(table))
