"""Label frames as Dask tasks and commit each result to the dataset as it arrives, in any order.

Frames already in the dataset with the same reference settings are skipped (resume after Ctrl-C or
kill -9 labels only what is missing); duplicates within the input are labelled once.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ase import Atoms

from ilflow import progress
from ilflow.data.store import Dataset, Origin, structure_hash
from ilflow.reference.base import Labeler, LabelFailure


@dataclass(frozen=True)
class LabelSummary:
    """What one labelling call did."""

    submitted: int
    labelled: int
    failed: int
    skipped_known: int
    skipped_duplicates: int
    wall_time_s: float


def _label_task(labeler: Labeler, frames: list[Atoms]) -> list[Atoms | LabelFailure]:
    """Runs on a worker: the labeler's own contract (one result per frame, never an exception)."""
    return labeler.label(frames)


def label_into_dataset(
    dataset: Dataset,
    frames: Sequence[Atoms],
    labeler: Labeler,
    client,
    split: str | Sequence[str] = "pool",
    origins: Sequence[Origin] | None = None,
    chunk_size: int = 1,
) -> LabelSummary:
    """Submit the missing frames in chunks (consecutive frames share a task, e.g. a CP2K wavefunction);
    the progress is reported through ilflow.progress."""
    from distributed import as_completed

    start = time.perf_counter()
    splits = [split] * len(frames) if isinstance(split, str) else list(split)
    origins = list(origins) if origins is not None else [Origin(frame=k) for k in range(len(frames))]
    settings_id = labeler.settings_id
    known = dataset.known(settings_id)
    todo, seen, skipped_known, duplicates = [], set(), 0, 0
    for k, atoms in enumerate(frames):
        key = structure_hash(atoms)
        if key in known:
            skipped_known += 1
        elif key in seen:
            duplicates += 1
        else:
            seen.add(key)
            todo.append((k, key))
    chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
    futures = {}
    for chunk in chunks:
        future = client.submit(_label_task, labeler, [frames[k] for k, _ in chunk],
                               key=f"label-{settings_id}-{chunk[0][1]}-{len(chunk)}")
        futures[future] = chunk

    labelled = failed = 0
    with progress.task("labelling", total=len(todo), unit="frames") as task:
        for future in as_completed(list(futures)):
            chunk = futures[future]
            try:
                results = future.result()
            except Exception as exc:  # the worker died more often than execution.max_retries allows
                results = [LabelFailure(frames[k].copy(), "crashed", f"task lost: {type(exc).__name__}: {exc}")
                           for k, _ in chunk]
            for (k, _), result in zip(chunk, results):
                dataset.add(result, splits[k], origins[k], labeler.method, settings_id)
                failed += isinstance(result, LabelFailure)
                labelled += not isinstance(result, LabelFailure)
            task.update(labelled + failed, labelled=labelled, failed=failed)
    return LabelSummary(len(todo), labelled, failed, skipped_known, duplicates, time.perf_counter() - start)
