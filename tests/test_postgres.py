"""A shared dataset on a real PostgreSQL server (started by the fixture with scripts/postgres-local, as the README
tells a user): labelling, training and export through its URL; two `ilflow label` processes on overlapping frame
files label each structure once; a labelling job killed with kill -9 is completed by a rerun. The claims that make
this work are also checked on SQLite, and an SQLite dataset on a network file system is refused."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ase.db
import pytest
from ase.build import molecule
from ase.io import read, write

from conftest import rattled
from ilflow.data import Dataset, structure_hash
from ilflow.data import claims as claims_module
from ilflow.data.claims import Claims
from ilflow.errors import IlflowError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _server_binaries() -> bool:
    return bool(list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))) or shutil.which("pg_ctl") is not None


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A private PostgreSQL server for this module: its URL (the script's last line)."""
    if not _server_binaries():
        pytest.skip("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    # not under pytest's own directory: as root the server runs as the user postgres, who cannot enter it
    directory = tempfile.mkdtemp(prefix="ilflow-postgres-")
    os.chmod(directory, 0o755)
    started = subprocess.run([str(SCRIPT), "start", directory, str(_free_port())], capture_output=True, text=True,
                             timeout=120)
    assert started.returncode == 0, started.stderr  # binaries present: the server must start
    yield started.stdout.strip().splitlines()[-1]
    subprocess.run([str(SCRIPT), "stop", directory], capture_output=True, timeout=120)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def empty_database(postgres_url):
    """The server's database with no dataset in it (ase.db's tables and the claims dropped)."""
    import psycopg2

    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return postgres_url


# GFN1-xTB: a third of GFN2's time per frame
CAMPAIGN = ('name: labels\nspecies: [{name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}, '
            '{name: BF4, smiles: "F[B-](F)(F)F", count: 2}]\nbox: {density_g_cm3: 1.2}\n'
            'reference: {method: xtb, hamiltonian: GFN1-xTB}\n')


def _label(frames_file: Path, db: str) -> subprocess.Popen:
    campaign = frames_file.parent / "campaign.yaml"
    campaign.write_text(CAMPAIGN)
    return subprocess.Popen([sys.executable, "-m", "ilflow", "label", str(frames_file), "--db", db, "--workers", "1",
                             "--campaign", str(campaign)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _hashes(db: str) -> list[str]:
    try:
        return [row.structure_hash for row in ase.db.connect(db).select()]
    except Exception:  # no tables yet
        return []


def _labelled_count(stdout: str) -> int:
    """N of the summary line "labelled N, failed M, ..."."""
    line = next(line for line in stdout.splitlines() if line.startswith("labelled "))
    return int(line.split(",")[0].split()[1])


def test_a_postgresql_dataset_serves_labelling_training_and_export(tmp_path, empty_database, box_2_pairs, cli):
    db = empty_database
    train, validation = tmp_path / "train.extxyz", tmp_path / "validation.extxyz"
    write(train, rattled(box_2_pairs, 4, seed=1))
    write(validation, rattled(box_2_pairs, 2, seed=2))
    for path, split in ((train, "train"), (validation, "validation")):
        result = cli("label", str(path), "--db", db, "--split", split, "--workers", "1")
        assert result.returncode == 0, result.stderr
    stats = Dataset(db).statistics()
    assert stats["rows"] == 6 and stats["split"] == {"train": 4, "validation": 2}
    exported = tmp_path / "labels.extxyz"
    result = cli("data", "export", db, "-o", str(exported), "--split", "train")
    assert result.returncode == 0, result.stderr
    frames = read(exported, ":")
    stored = {a.info["structure_hash"]: a for a in Dataset(db).frames(split="train")}
    assert {structure_hash(a) for a in frames} == set(stored) and len(frames) == 4
    for atoms in frames:  # the labels came back unchanged through PostgreSQL
        same = stored[structure_hash(atoms)]
        assert atoms.get_potential_energy() == pytest.approx(same.get_potential_energy(), abs=1e-8)
        assert abs(atoms.get_forces() - same.get_forces()).max() < 1e-8
    result = cli("train", "--db", db, "--epochs", "2", "-o", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    assert "training 2 x GMNN" in result.stdout and "on 4 frames, validating on 2" in result.stdout
    assert (tmp_path / "model" / "params.npz").exists()


def test_two_label_processes_on_overlapping_files_label_each_structure_once(tmp_path, empty_database, box_2_pairs):
    db = empty_database
    frames = rattled(box_2_pairs, 12, seed=5)
    first, second = tmp_path / "first.extxyz", tmp_path / "second.extxyz"
    write(first, frames[:8])
    write(second, frames[4:8][::-1] + frames[8:])  # the 4 shared frames first, in the other order
    runs = [_label(first, db), _label(second, db)]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err
    hashes = _hashes(db)
    assert len(hashes) == 12 and set(hashes) == {structure_hash(a) for a in frames}  # none lost, none twice
    computed = [_labelled_count(out) for out, _ in outputs]
    assert sum(computed) == 12, outputs  # and each label computed once: the shared 4 by one process only
    waited = [out for out, _ in outputs if "by another process" in out]
    assert waited, outputs  # the later process waited for the shared frames instead of computing them


def test_a_labelling_job_killed_with_kill_9_is_completed_by_a_rerun(tmp_path, empty_database, box_2_pairs):
    db = empty_database
    frames_file = tmp_path / "frames.extxyz"
    write(frames_file, rattled(box_2_pairs, 12, seed=7))
    job = _label(frames_file, db)
    start = time.time()
    while len(_hashes(db)) < 3:
        assert job.poll() is None, job.communicate()
        assert time.time() - start < 300, "no labels arrived"
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)  # the client and its workers at once, as a batch system does
    job.wait()
    before = len(_hashes(db))
    assert 3 <= before < 12
    rerun = _label(frames_file, db)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    # the dead job's claims are taken over at once (its process is gone), nothing is waited for
    assert f"already in the dataset {before}" in out and "by another process" not in out
    hashes = _hashes(db)
    assert len(hashes) == 12 and set(hashes) == {structure_hash(a) for a in read(frames_file, ":")}


WRITER = """
import sys
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ilflow.data import Dataset
dataset, first = Dataset(sys.argv[1]), int(sys.argv[2])
for k in range(first, first + 300):
    atoms = molecule("H2O")
    atoms.positions[0, 0] += 0.001 * k
    atoms.calc = SinglePointCalculator(atoms, energy=-float(k), forces=0 * atoms.positions)
    dataset.add(atoms, settings_hash="s")
"""


def test_concurrent_writers_keep_each_row_whole(empty_database):
    """Two processes adding rows at the same time: every row keeps its own structure, energy and keys (ASE's
    PostgreSQL backend read the id of a new row from a sequence the other process was moving)."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, empty_database, str(first)], stderr=subprocess.PIPE,
                                text=True) for first in (0, 1000)]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    rows = list(ase.db.connect(empty_database).select())
    assert len(rows) == 600
    for row in rows:
        atoms = row.toatoms()
        k = round((atoms.positions[0, 0] - molecule("H2O").positions[0, 0]) / 0.001)
        assert row.energy == pytest.approx(-k) and row.structure_hash == structure_hash(atoms)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "data.db")
    return request.getfixturevalue("empty_database")


def test_claims_are_exclusive_and_taken_over_from_dead_or_silent_holders(database, monkeypatch):
    with Claims(database, "settings") as one, Claims(database, "settings") as two:
        assert one.claim(["a", "b"]) == {"a", "b"}
        assert two.claim(["b", "c"]) == {"c"}  # b is held by a live process
        assert Claims(database, "other settings").claim(["b"]) == {"b"}  # claims are per reference setting
        one._execute("UPDATE ilflow_claims SET pid = ? WHERE owner = ?", (_dead_pid(), one.owner))
        assert two.claim(["a"]) == {"a"}  # its holder's process is gone
        assert one.claim(["c"]) == set()
        monkeypatch.setattr(claims_module, "LEASE_S", -1.0)  # every heartbeat is too old
        assert one.claim(["c"]) == {"c"}  # a silent holder (another host) loses its claims after the lease
        one.release(["c"])
        assert two.claim(["c"]) == {"c"}


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_an_sqlite_dataset_on_a_network_file_system_is_refused_unless_forced(tmp_path, monkeypatch):
    from ilflow.data import store

    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export {tmp_path}/shared\\040home nfs4 rw 0 0\n")
    monkeypatch.setattr(store, "MOUNTS", str(mounts))
    shared = tmp_path / "shared home"
    assert store.filesystem_of(shared / "data.db") == (f"{tmp_path}/shared home", "nfs4")
    with pytest.raises(IlflowError) as refused:
        Dataset(shared / "data.db")
    message = str(refused.value)
    assert "nfs4" in message and "postgresql://" in message and store.ALLOW_NETWORK_FS in message
    assert not (shared / "data.db").exists()  # refused before anything was written
    Dataset(tmp_path / "local" / "data.db")  # a local disk is fine
    monkeypatch.setenv(store.ALLOW_NETWORK_FS, "1")
    assert len(Dataset(shared / "data.db")) == 0
