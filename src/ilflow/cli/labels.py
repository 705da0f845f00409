"""Labels and data: `label` frames with the reference method, and the `data` sub-app (`info`, `export`)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ilflow.cli.guard import output_file
from ilflow.cli.options import console, err_console, open_dataset
from ilflow.cli.render import progress_shown
from ilflow.errors import ConfigError

data_app = typer.Typer(help="Inspect and export a dataset (ase.db).", no_args_is_help=True)


def label(
    frames: Annotated[list[Path], typer.Argument(help="Frame files (extxyz or anything ASE reads).")],
    db: Annotated[str, typer.Option(help="Dataset: an ase.db path (SQLite) or URL.")] = "data.db",
    campaign: Annotated[
        Optional[Path], typer.Option(help="Take `reference` and `execution` from this campaign [default: GFN2-xTB, 2 local workers].")
    ] = None,
    split: Annotated[str, typer.Option(help="train, validation, test or pool.")] = "pool",
    stage: Annotated[str, typer.Option(help="Origin recorded with each label.")] = "external",
    workers: Annotated[Optional[int], typer.Option(help="Local Dask workers (overrides the campaign).")] = None,
    chunk_size: Annotated[int, typer.Option(help="Consecutive frames per task (CP2K reuses the wavefunction).")] = 1,
) -> None:
    """Label frames with the reference method on Dask; each label is committed as it arrives.

    Re-running labels only what is missing; failures are kept as records with their reason. Several processes
    may label into one dataset at once (PostgreSQL, or SQLite on a local disk): each structure is labelled once.
    """
    from ilflow.config import load_campaign
    from ilflow.config.execution import Execution
    from ilflow.config.reference import XtbReference
    from ilflow.data import SPLITS, Origin
    from ilflow.distributed import dask_client
    from ilflow.io import read_frames
    from ilflow.labelling import label_into_dataset
    from ilflow.reference import make_labeler

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size {chunk_size}: must be at least 1")
    loaded = load_campaign(campaign) if campaign else None
    reference = loaded.reference if loaded else XtbReference()
    execution = loaded.execution if loaded else Execution()
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"--workers {workers}: must be at least 1")
        execution = execution.model_copy(update={"workers": workers, "cluster": "local"})
    all_frames, origins = [], []
    for path in frames:
        read = read_frames(path)
        all_frames += read
        origins += [Origin(stage=stage, parent=str(path), frame=k) for k in range(len(read))]
    dataset = open_dataset(db, create=True)  # before Dask starts: a path that is no dataset fails now
    labeler = make_labeler(reference)
    console.print(f"{len(all_frames)} frames -> {db} with {labeler.method} on {execution.workers} "
                  f"{execution.cluster} worker(s)")
    with dask_client(execution) as client, progress_shown():
        summary = label_into_dataset(dataset, all_frames, labeler, client, split, origins, chunk_size)
    elsewhere = f", labelled by another process {summary.by_another_process}" if summary.by_another_process else ""
    console.print(f"labelled {summary.labelled}, failed {summary.failed}{elsewhere}, already in the dataset "
                  f"{summary.skipped_known}, duplicates in the input {summary.skipped_duplicates}; "
                  f"{summary.wall_time_s:.1f} s; dataset now {len(dataset)} rows")
    if summary.skipped_known:
        err_console.print(f"note: the {summary.skipped_known} frame(s) already in the dataset keep their label and "
                          f"their split; --split {split} applied only to the {summary.labelled} new one(s)")
    for failure in dataset.failures()[-summary.failed:] if summary.failed else []:
        err_console.print(f"failed frame {failure['frame']} ({failure['kind']}): {failure['reason']}",
                          markup=False, highlight=False)


@data_app.command("info")
def data_info(db: Annotated[str, typer.Argument(help="ase.db path or URL")]) -> None:
    """Counts per status, split, stage and method; failure records with their reasons."""
    import json

    dataset = open_dataset(db)
    console.print(json.dumps(dataset.statistics(), indent=2))
    for failure in dataset.failures():
        console.print(f"failed row {failure['id']} ({failure['kind']}, {failure['stage']} frame {failure['frame']}): "
                      f"{failure['reason']}", markup=False, highlight=False)


@data_app.command("export")
def data_export(
    db: Annotated[str, typer.Argument(help="ase.db path or URL")],
    out: Annotated[Path, typer.Option("--out", "-o", help="extxyz file to write")] = Path("labels.extxyz"),
    split: Annotated[Optional[str], typer.Option(help="Only this split.")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not an extxyz file.")] = False,
) -> None:
    """Write labelled frames (energy, forces, stress, provenance) to extxyz."""
    from ilflow.data import SPLITS

    if split is not None and split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    output_file("--out", out, "extxyz", inputs=[db], force=force)
    n = open_dataset(db).export(out, split=split)
    console.print(f"{out}: {n} labelled frames")
