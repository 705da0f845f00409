"""Learning on the fly: a shortened schedule killed (like kill -9) during sampling, labelling and training
continues where it stopped and ends with the same dataset as an uninterrupted run, without duplicate labels."""

import json
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from ilflow.data.store import Dataset

CAMPAIGN = """
name: tiny
species:
  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 2}
  - {name: BF4, smiles: "F[B-](F)(F)F", count: 2}
box: {density_g_cm3: 1.0, seed: 42}
reference: {method: ase, calculator: "ase.calculators.lj:LennardJones", kwargs: {sigma: 1.0, epsilon: 0.01, rc: 4.0}}
model:
  r_max_A: 4.0
  hidden_layers: [8, 8]
  training: {epochs: 3, batch_size: 4}
learning:
  initial: {source: bootstrap, frames: 10, n_train: 5, n_validation: 3, n_test: 2}
  iterations:
    - name: nvt
      samplers:
        - {kind: md, ensemble: nvt_langevin, temperature_K: 300, steps: 60, frame_interval: 10, uncertainty_threshold_eV_A: 50,
           start: initial}
        - {kind: relax, fmax_eV_A: 0.5, max_steps: 20}
      selection: {method: maxdist, frames: 3}
    - name: scan
      samplers:
        - {kind: volume_scan, factor_min: 0.95, factor_max: 1.3, points: 10, picks: 4}
      selection: {method: random, frames: 2}
execution: {workers: 1}
"""

KILLERS = {
    # the second trajectory chunk written: iteration 1's MD is under way
    "sampling": ("ilflow.md.h5md", "H5MDWriter.append", 2),
    # the 12th label committed: 10 initial ones, then inside iteration 1's three
    "labelling": ("ilflow.data.store", "Dataset.add", 12),
    # the 5th optimiser step of the second training (iteration 1)
    "training": ("ilflow.training.trainer", "_train_step", None),
}


def _script(campaign, root, where: str) -> str:
    module, attribute, after = KILLERS[where]
    if where == "training":
        return textwrap.dedent(f"""
            import os, sys
            import ilflow.training.trainer as trainer
            import ilflow.training.api as api
            state = {{"trainings": 0, "steps": 0}}
            original_train, original_step = trainer.train, trainer._train_step
            def counting_train(*a, **k):
                state["trainings"] += 1
                return original_train(*a, **k)
            def killing_step(*a, **k):
                if state["trainings"] == 2:
                    state["steps"] += 1
                    if state["steps"] == 5:
                        os._exit(9)
                return original_step(*a, **k)
            api.train, trainer._train_step = counting_train, killing_step
            from ilflow.cli import main
            sys.argv = ["ilflow", "run", {str(campaign)!r}, "--dir", {str(root)!r}]
            main()
        """)
    owner, method = attribute.split(".")
    return textwrap.dedent(f"""
        import os, sys
        import {module} as target
        calls = {{"n": 0}}
        original = target.{owner}.{method}
        def killing(*a, **k):
            calls["n"] += 1
            if calls["n"] == {after}:
                os._exit(9)
            return original(*a, **k)
        setattr(target.{owner}, {method!r}, killing)
        from ilflow.cli import main
        sys.argv = ["ilflow", "run", {str(campaign)!r}, "--dir", {str(root)!r}]
        main()
    """)


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=900)


def _dataset_summary(root):
    dataset = Dataset(root / "learning" / "dataset.db")
    rows = list(dataset.db.select())
    hashes = Counter(row.structure_hash for row in rows)
    return len(rows), max(hashes.values()), Counter(row.split for row in rows)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # four campaign runs on 2 cores
def test_killed_at_three_moments_the_loop_ends_with_the_same_dataset(tmp_path):
    campaign = tmp_path / "tiny.yaml"
    campaign.write_text(CAMPAIGN)
    straight = _run(["-m", "ilflow", "run", str(campaign), "--dir", str(tmp_path / "straight")], tmp_path)
    assert straight.returncode == 0, straight.stderr[-3000:]
    expected = _dataset_summary(tmp_path / "straight")
    history = json.loads((tmp_path / "straight" / "learning" / "history.json").read_text())
    assert [row["iteration"] for row in history] == [0, 1, 2] and expected[1] == 1
    for where in KILLERS:
        root = tmp_path / where
        killed = _run(["-c", _script(campaign, root, where)], tmp_path)
        assert killed.returncode == 9, (where, killed.stderr[-3000:])
        assert not (root / "learning" / "history.json").exists() or \
            len(json.loads((root / "learning" / "history.json").read_text())) < 3
        again = _run(["-m", "ilflow", "run", str(campaign), "--dir", str(root)], tmp_path)
        assert again.returncode == 0, (where, again.stderr[-3000:])
        assert _dataset_summary(root) == expected, where  # same size and splits, every structure once


STOPPING = """
name: stopping
species:
  - {name: BMIM, smiles: "CCCCn1cc[n+](C)c1", count: 1}
  - {name: BF4, smiles: "F[B-](F)(F)F", count: 1}
box: {density_g_cm3: 1.0, seed: 42}
reference: {method: ase, calculator: "ase.calculators.lj:LennardJones", kwargs: {sigma: 1.0, epsilon: 0.01, rc: 4.0}}
model: {r_max_A: 4.0, hidden_layers: [8, 8], training: {epochs: 2, batch_size: 4}}
learning:
  initial: {source: bootstrap, frames: 8, n_train: 4, n_validation: 2, n_test: 2}
  iterations:
    - name: nvt
      samplers:
        - {kind: md, ensemble: nvt_langevin, temperature_K: 300, steps: 20, frame_interval: 2,
           uncertainty_threshold_eV_A: 1e-6, start: initial, replicas: 2}
        - {kind: md, ensemble: nvt_langevin, temperature_K: 300, steps: 20, frame_interval: 2,
           uncertainty_threshold_eV_A: 50, start: initial}
      selection: {method: maxdist, frames: 3}
execution: {workers: 1}
"""


def test_the_frames_where_md_stopped_on_uncertainty_are_selected_first(tmp_path):
    """Both replicas of the first MD stop on the uncertainty rule at their first step (threshold 1e-6 eV/Å): their
    stop frames (the last of each run, flagged) are selected first; MaxDist adds one of the second MD's frames."""
    import h5py
    import numpy as np

    from ilflow.active.records import SelectionRecord
    from ilflow.active.samplers import STOPPED
    from ilflow.config import parse_campaign
    from ilflow.io import read_frames
    from ilflow.project import Project
    from ilflow.workflow import run_campaign

    campaign = parse_campaign(STOPPING)
    root = tmp_path / "p"
    run_campaign(campaign, root, until="learning")
    project = Project(root)
    sampling = project.stage_dir(project.iteration_stage(1, "sampling"))
    stop_positions = []
    for replica in (0, 1):
        with h5py.File(sampling / f"md-0-{replica}" / "trajectory.h5md", "r") as f:
            assert f["particles/trajectory/position/value"].shape[0] >= 2
            stop_positions.append(f["particles/trajectory/position/value"][-1])
    selection = project.stage_dir(project.iteration_stage(1, "selection"))
    record = SelectionRecord.load(selection / "selection.json")
    selected = read_frames(selection / "selected.extxyz")
    assert (record.stop_frames, record.selected, len(selected)) == (2, 3, 3)
    assert [bool(a.info.get(STOPPED)) for a in selected] == [True, True, False]
    for atoms, positions in zip(selected, stop_positions):
        assert np.allclose(atoms.positions, positions)
