"""Label frames as Dask tasks and commit each result to the dataset as it arrives, in any order.

Frames already in the dataset with the same reference settings are skipped (resume after Ctrl-C or
kill -9 labels only what is missing); duplicates within the input are labelled once, and so are frames that
several processes label into one dataset at the same time (claims, ilflow.data.claims).
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ase import Atoms

from ilflow import progress
from ilflow.data.store import Dataset, Origin, structure_hash
from ilflow.reference.base import Labeler, LabelFailure

logger = logging.getLogger(__name__)

WAIT_POLL_S = 5.0  # how often frames another process holds are looked for in the dataset


@dataclass(frozen=True)
class LabelSummary:
    """What one labelling call did."""

    submitted: int
    labelled: int
    failed: int
    skipped_known: int
    skipped_duplicates: int
    wall_time_s: float
    by_another_process: int = 0  # labelled meanwhile by another process writing the same dataset


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
    """Submit the missing frames in chunks (consecutive frames share a task, e.g. a CP2K wavefunction) and commit
    each result as it arrives; the progress is reported through ilflow.progress.

    Frames that another process is labelling into the same dataset (it holds their claims, ilflow.data.claims)
    are waited for, and labelled here only if that process goes away before it commits them."""
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

    pending: dict = {}  # future -> its chunk of (frame index, structure hash)

    def submit(items: list[tuple[int, str]]) -> None:
        for chunk in (items[i:i + chunk_size] for i in range(0, len(items), chunk_size)):
            future = client.submit(_label_task, labeler, [frames[k] for k, _ in chunk],
                                   key=f"label-{settings_id}-{chunk[0][1]}-{len(chunk)}")
            pending[future] = chunk

    def claim(items: list[tuple[int, str]]) -> tuple[list, list]:
        """(claimed here and still unlabelled, held by another process); labels committed meanwhile drop out."""
        held = claims.claim(key for _, key in items)
        done = dataset.known(settings_id)  # after the claim: a holder commits its row before it releases
        claims.release(held & done)
        mine = [(k, key) for k, key in items if key in held and key not in done]
        return mine, [(k, key) for k, key in items if key not in held and key not in done]

    labelled = failed = elsewhere = 0
    with dataset.claims(settings_id) as claims, \
            progress.task("labelling", total=len(todo), unit="frames") as task:
        mine, waiting = claim(todo)
        elsewhere += len(todo) - len(mine) - len(waiting)
        submit(mine)
        if waiting:
            logger.info("  %d of %d frames are being labelled by another process; waiting for them", len(waiting),
                        len(todo))
        last_look = time.monotonic()
        while pending or waiting:
            finished, counted = [future for future in pending if future.done()], elsewhere
            for future in finished:
                chunk = pending.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # the worker died more often than execution.max_retries allows
                    results = [LabelFailure(frames[k].copy(), "crashed", f"task lost: {type(exc).__name__}: {exc}")
                               for k, _ in chunk]
                for (k, key), result in zip(chunk, results):
                    dataset.add(result, splits[k], origins[k], labeler.method, settings_id)
                    claims.release([key])
                    failed += isinstance(result, LabelFailure)
                    labelled += not isinstance(result, LabelFailure)
            if waiting and time.monotonic() - last_look >= WAIT_POLL_S:
                last_look = time.monotonic()
                before = len(waiting)
                taken, waiting = claim(waiting)
                elsewhere += before - len(taken) - len(waiting)
                submit(taken)
            if finished or elsewhere != counted or not (pending or waiting):
                task.update(labelled + failed + elsewhere, labelled=labelled, failed=failed,
                            **({"by_another_process": elsewhere} if elsewhere else {}))
            else:
                time.sleep(0.1)
    return LabelSummary(len(todo), labelled, failed, skipped_known, duplicates, time.perf_counter() - start,
                        elsewhere)
