"""A real SLURM cluster on this machine (scripts/slurm-local, started by the fixture as the README tells a user):
labels through dask-jobqueue worker jobs, one of them cancelled mid-run and replaced with no label lost or doubled;
an MD run submitted as a batch job continues after its job is cancelled and submitted again; CP2K as an MPI
launch inside a worker job gives the label of a serial CP2K run."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import ase.db
import jax
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.io import read, write

from conftest import rattled
from ilflow.data import Dataset, structure_hash
from ilflow.md.summary import MDSummary
from ilflow.potentials import GMNNConfig, init_params, save_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-local"
N_FRAMES = 20


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node cluster; SLURM_CONF set for this process and what it starts."""
    missing = [name for name in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"no SLURM here ({', '.join(missing)} missing; Debian: apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("scripts/slurm-local starts slurmd, which needs root")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr  # as root with the packages: it must start
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(state / "slurm.conf"))
        patch.setenv("ILFLOW_PROGRESS_INTERVAL_S", "1")  # progress lines in the jobs' output files
        yield state
        subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120)


def _jobs() -> set[str]:
    """Ids of the jobs pending or running."""
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30).stdout
    return set(out.split())


def _rows(db: Path) -> int:
    try:
        return ase.db.connect(db, type="db").count() if db.exists() else 0
    except Exception:  # locked by the writer for a moment
        return 0


def _campaign(path: Path, slurm: dict, reference: dict | None = None) -> Path:
    text = {"name": "slurm-test", "species": [{"name": "X", "smiles": "O", "count": 1}],
            "box": {"density_g_cm3": 1.0},
            "reference": reference or {"method": "xtb", "hamiltonian": "GFN2-xTB"},
            "execution": {"cluster": "slurm", "slurm": {"memory": "1GB", "walltime": "00:20:00", "queue": "debug",
                                                        "interface": "lo", "log_directory": str(path.parent / "jobs"),
                                                        **slurm}}}
    path.write_text(yaml.safe_dump(text))
    return path


def test_labels_through_slurm_worker_jobs_survive_a_cancelled_job(tmp_path, slurm, box_2_pairs):
    frames_file, db = tmp_path / "frames.extxyz", tmp_path / "data.db"
    write(frames_file, rattled(box_2_pairs, N_FRAMES, seed=21))
    # two 1-core worker jobs, kept at two: a job that ends is replaced
    campaign = _campaign(tmp_path / "campaign.yaml", {"cores": 1, "adaptive_min": 2, "adaptive_max": 2})
    label = subprocess.Popen([sys.executable, "-m", "ilflow", "label", str(frames_file), "--db", str(db),
                              "--campaign", str(campaign)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[str] = set()
    start = time.time()
    while _rows(db) < 3:  # the first labels
        assert label.poll() is None, label.communicate()
        assert time.time() - start < 300, "no labels arrived"
        seen |= _jobs()
        time.sleep(0.5)
    workers = _jobs()
    assert len(workers) == 2, workers
    cancelled = sorted(workers)[0]
    subprocess.run(["scancel", cancelled], check=True, timeout=30)
    while label.poll() is None:
        seen |= _jobs()
        time.sleep(0.5)
    out, err = label.communicate()
    assert label.returncode == 0, err
    replacements = seen - workers
    assert replacements, f"no job replaced {cancelled} (jobs seen: {sorted(seen)})"
    hashes = [row.structure_hash for row in ase.db.connect(db).select()]
    assert len(hashes) == N_FRAMES and len(set(hashes)) == N_FRAMES  # exactly 20 rows, 20 structures
    assert set(hashes) == {structure_hash(a) for a in read(frames_file, ":")}
    assert Dataset(db).statistics()["status"] == {"ok": N_FRAMES}
    assert f"labelled {N_FRAMES}, failed 0" in out
    print(f"worker jobs {sorted(workers)}, {cancelled} cancelled, replaced by {sorted(replacements)}")


@pytest.fixture()
def model_and_box(tmp_path):
    """A random model of argon with gentle forces, and an fcc box of it (atoms, no molecules to break)."""
    config = GMNNConfig(elements=(18,), hidden=(16, 16))
    params = jax.vmap(lambda k: init_params(config, k))(jax.random.split(jax.random.PRNGKey(0), 2))
    params["scale"] = params["scale"] * 0.01
    save_model(tmp_path / "model", config, params)
    write(tmp_path / "box.extxyz", bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2))
    return tmp_path / "model", tmp_path / "box.extxyz"


def _md_lines(log: Path) -> list[tuple[int, str]]:
    """(steps done, line) of the MD progress lines in a job's output."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [(int(line.split("MD: ")[1].split("/")[0]), line) for line in lines if " MD: " in line]


def test_an_md_job_cancelled_and_submitted_again_continues_where_it_stopped(tmp_path, slurm, model_and_box):
    model, box = model_and_box
    steps = 20000
    run = tmp_path / "run"
    job_script = tmp_path / "md.sh"
    job_script.write_text(f"#!/bin/bash\n#SBATCH --cpus-per-task=1\n"
                          f"exec {sys.executable} -m ilflow md --model {model} --structure {box} --steps {steps} "
                          f"--frame-every 500 --max-uncertainty-eV-A 0 --out {run}\n")

    def submit(log: Path) -> str:
        out = subprocess.run(["sbatch", "--parsable", "-o", str(log), str(job_script)], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        return out.strip().split(";")[0]

    first = submit(tmp_path / "first.log")
    start = time.time()
    while not [done for done, _ in _md_lines(tmp_path / "first.log") if done >= 1000]:
        assert first in _jobs(), (tmp_path / "first.log").read_text()  # still running
        assert time.time() - start < 300, "the MD job made no progress"
        time.sleep(0.5)
    subprocess.run(["scancel", first], check=True, timeout=30)
    while first in _jobs():
        time.sleep(0.5)
    reached = max(done for done, _ in _md_lines(tmp_path / "first.log"))
    assert reached < steps, "the job finished before it was cancelled; give it more steps"
    assert "CANCELLED" in (tmp_path / "first.log").read_text()

    second = submit(tmp_path / "second.log")
    start = time.time()
    while second in _jobs():
        assert time.time() - start < 600, "the resubmitted job did not finish"
        time.sleep(1.0)
    lines = _md_lines(tmp_path / "second.log")
    resumed_at, first_line = lines[0]
    assert first_line.endswith("started") and 0 < resumed_at <= reached, lines[:2]  # from its last checkpoint
    summary = MDSummary.load(run / "summary.json")
    assert summary.steps_done == steps and summary.stop_reason is None
    assert summary.frames == steps // 500 + 1  # no frame twice, none missing
    print(f"job {first} cancelled at step {reached}; job {second} continued from step {resumed_at}")


CP2K = shutil.which("cp2k.psmp")


@pytest.mark.skipif(CP2K is None or shutil.which("mpirun") is None, reason="cp2k.psmp or mpirun not installed")
def test_cp2k_as_an_mpi_launch_inside_a_worker_job(tmp_path, slurm, monkeypatch):
    """One worker job of 2 SLURM tasks (the job's MPI slots) runs `mpirun -n 2 cp2k.psmp`; its label equals the
    label of CP2K run serially here."""
    hf = Atoms("HF", positions=[[0.1, 0.2, 0.3], [1.03, 0.25, 0.3]], cell=[4.0, 4.2, 4.4], pbc=True)
    frames_file, db = tmp_path / "hf.extxyz", tmp_path / "data.db"
    write(frames_file, [hf])
    reference = {"method": "cp2k", "cutoff_Ry": 300, "rel_cutoff_Ry": 40, "dispersion": "none",
                 "command": "mpirun -n 2 -x OMP_NUM_THREADS=1 cp2k.psmp"}
    root = ["export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"] if os.geteuid() == 0 else []
    campaign = _campaign(tmp_path / "campaign.yaml", {
        "cores": 2, "adaptive_min": 1, "adaptive_max": 1,
        # one worker per job (threads_per_worker = cores), and the job's 2 cores as 2 SLURM tasks: mpirun's slots
        "job_script_extras": ["--ntasks=2", "--cpus-per-task=1"], "job_script_prologue": root}, reference)
    text = yaml.safe_load(campaign.read_text())
    text["execution"]["threads_per_worker"] = 2
    campaign.write_text(yaml.safe_dump(text))
    result = subprocess.run([sys.executable, "-m", "ilflow", "label", str(frames_file), "--db", str(db),
                             "--campaign", str(campaign)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [labelled] = list(Dataset(db).frames())
    from ilflow.config.reference import Cp2kReference
    from ilflow.reference import make_labeler

    serial = make_labeler(Cp2kReference(**{**reference, "command": "cp2k.psmp"})).label([hf])[0]
    assert labelled.get_potential_energy() == pytest.approx(serial.get_potential_energy(), abs=1e-6)
    assert abs(labelled.get_forces() - serial.get_forces()).max() < 1e-5
    jobs_output = "".join(p.read_text() for p in (tmp_path / "jobs").glob("*.err"))
    assert "not enough slots" not in jobs_output
    print(json.dumps({"mpi_energy_eV": labelled.get_potential_energy(),
                      "serial_energy_eV": serial.get_potential_energy()}))
