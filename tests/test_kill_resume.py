"""kill -9 during production and during analysis, then the same command again: the same results as a run that
was never interrupted (the learning loop's kill test is tests/test_learning.py)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from test_campaign_edits import CAMPAIGN as EDITS

# Preparation with the model (FIRE) instead of CL&P: OpenMM's CPU platform is not reproducible from one execution
# to the next (two uninterrupted executions of the same 0.5 ps CL&P NPT ended 1-2.5 Å apart), so only JAX MD,
# which restarts bit for bit, can show that a resumed run equals a straight one.
CAMPAIGN = EDITS.replace("classical_ps: 0.5", "classical_ps: null")
assert CAMPAIGN != EDITS

def _kill_during_production(campaign, root, cwd) -> int:
    """`ilflow run` killed (SIGKILL to it and its Dask workers) once a production run's rescale has checkpointed."""
    process = subprocess.Popen([sys.executable, "-m", "ilflow", "run", str(campaign), "--dir", str(root)], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 900
    while not list(root.glob("production/*/*/rescale/checkpoint.npz")) and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    return -process.wait()


def _kill_during_analysis(campaign, root, cwd) -> int:
    """`ilflow run` ending with os._exit(9) while the analysis draws its RDF figure (results computed, figures
    half written)."""
    script = textwrap.dedent(f"""
        import os, sys
        import ilflow.analysis.plots as plots
        plots.rdf_figure = lambda *a, **k: os._exit(9)
        from ilflow.cli import main
        sys.argv = ["ilflow", "run", {str(campaign)!r}, "--dir", {str(root)!r}]
        main()
    """)
    return _run(["-c", script], cwd).returncode


KILLERS = {"production": _kill_during_production, "analysis": _kill_during_analysis}


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=1200)


def _numbers(root) -> dict:
    """What a rerun must reproduce: each production run's record (without wall times) and last positions, and
    the analysis results (without file paths)."""
    out = {}
    for record_path in sorted(root.glob("production/*/*/run.json")):
        record = json.loads(record_path.read_text())
        for key in ("wall_s",):
            record.pop(key)
        for key in ("ns_per_day", "atom_steps_per_s"):
            record["md"].pop(key)
        with h5py.File(record_path.parent / record["trajectory"]) as f:
            record["last_positions"] = np.round(f["particles/trajectory/position/value"][-1], 8).tolist()
        out[str(record_path.relative_to(root))] = record
    results = json.loads((root / "analysis" / "results.json").read_text())
    out["analysis"] = {key: results[key] for key in ("density", "diffusion", "notes")}
    out["rdf"] = [run["analysis"]["rdf"] for run in results["runs"]]
    return out


@pytest.mark.slow
@pytest.mark.timeout(3600)  # several campaign runs on 2 cores
def test_killed_during_production_and_analysis_the_rerun_gives_the_same_results(tmp_path):
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN)
    learned = tmp_path / "learned"
    done = _run(["-m", "ilflow", "run", str(campaign), "--dir", str(learned), "--until", "learning"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    roots = {name: tmp_path / name for name in ("straight", *KILLERS)}
    for root in roots.values():
        shutil.copytree(learned, root)
    straight = _run(["-m", "ilflow", "run", str(campaign), "--dir", str(roots["straight"])], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    expected = _numbers(roots["straight"])
    for where in KILLERS:
        assert KILLERS[where](campaign, roots[where], tmp_path) == 9, where
        assert not (roots[where] / "report" / "report.html").exists()
        status = _run(["-m", "ilflow", "status", str(campaign), "--dir", str(roots[where]), "--json"], tmp_path)
        states = {line["state"] for line in json.loads(status.stdout)["stages"]}
        assert "interrupted" in states, (where, status.stdout)
        again = _run(["-m", "ilflow", "run", str(campaign), "--dir", str(roots[where])], tmp_path)
        assert again.returncode == 0, (where, again.stderr[-3000:])
        assert _numbers(roots[where]) == expected, where
        assert not list(roots[where].rglob("superseded")), where  # resumed, nothing redone from scratch
