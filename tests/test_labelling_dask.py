"""Labelling on a 2-worker Dask LocalCluster: resume after kill -9, and a worker killed mid-run."""

import os
import signal
import subprocess
import sys
import time

import ase.db
import psutil
import pytest
from ase.io import write

from conftest import rattled
from ilflow.data import Dataset, structure_hash

N_FRAMES = 20


@pytest.fixture()
def frames_file(tmp_path, box_2_pairs):
    path = tmp_path / "frames.extxyz"
    write(path, rattled(box_2_pairs, N_FRAMES, seed=11))
    return path


def _start(frames_file, db) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ilflow", "label", str(frames_file), "--db", str(db), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _rows(db) -> int:
    if not db.exists():
        return 0
    try:
        return ase.db.connect(db, type="db").count()
    except Exception:  # locked by the writer for a moment
        return 0


def _wait_for_rows(db, n: int, proc: subprocess.Popen, timeout_s: float = 300.0) -> None:
    start = time.time()
    while _rows(db) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.time() - start < timeout_s, "no labels arrived"
        time.sleep(0.2)


def _assert_complete(db, frames_file):
    from ase.io import read

    expected = {structure_hash(f) for f in read(frames_file, ":")}
    hashes = [row.structure_hash for row in ase.db.connect(db, type="db").select()]
    assert len(hashes) == N_FRAMES and len(set(hashes)) == N_FRAMES  # exactly 20 rows, no duplicates
    assert set(hashes) == expected
    assert Dataset(db).statistics()["status"] == {"ok": N_FRAMES}


def test_kill_minus_9_then_rerun_labels_only_what_is_missing(tmp_path, frames_file):
    db = tmp_path / "data.db"
    proc = _start(frames_file, db)
    _wait_for_rows(db, 6, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the client and its workers, all at once
    proc.wait()
    done_before = _rows(db)
    assert 6 <= done_before < N_FRAMES
    rerun = subprocess.run([sys.executable, "-m", "ilflow", "label", str(frames_file), "--db", str(db), "--workers", "2"],
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"already in the dataset {done_before}" in rerun.stdout
    _assert_complete(db, frames_file)


def test_worker_killed_mid_run_is_replaced_and_its_task_retried(tmp_path, frames_file):
    db = tmp_path / "data.db"
    proc = _start(frames_file, db)
    _wait_for_rows(db, 3, proc)
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
               if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in workers]
    workers[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "labelled" in out
    _assert_complete(db, frames_file)
