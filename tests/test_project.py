"""Project directory: atomic writes, manifests, and skipping complete stages."""

import json

import pytest

import ilflow
from ilflow.project import Project, atomic_path, atomic_write_text, inputs_hash


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def _counting_stage(calls):
    def produce(directory):
        calls.append(directory)
        out = directory / "result.txt"
        atomic_write_text(out, f"run {len(calls)}\n")
        return [out]

    return produce


def test_stage_runs_once_then_skips(tmp_path):
    project, calls = Project(tmp_path), []
    first = project.run_stage("s", {"a": 1}, _counting_stage(calls))
    second = project.run_stage("s", {"a": 1}, _counting_stage(calls))
    assert (first.ran, second.ran, len(calls)) == (True, False, 1)
    assert second.outputs == first.outputs and first.outputs[0].read_text() == "run 1\n"
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["inputs_hash"] == inputs_hash({"a": 1}) and manifest["inputs"] == {"a": 1}
    assert manifest["ilflow_version"] == ilflow.__version__
    assert manifest["outputs"] == [{"path": "result.txt", "size_bytes": len("run 1\n")}]
    assert "finished_utc" in manifest and manifest["wall_time_s"] >= 0


def test_stage_reruns_when_inputs_or_outputs_change(tmp_path):
    project, calls = Project(tmp_path), []
    project.run_stage("s", {"a": 1}, _counting_stage(calls))
    assert project.run_stage("s", {"a": 2}, _counting_stage(calls)).ran  # new inputs
    (tmp_path / "s" / "result.txt").write_text("truncated")
    assert project.run_stage("s", {"a": 2}, _counting_stage(calls)).ran  # output changed size
    (tmp_path / "s" / "result.txt").unlink()
    assert project.run_stage("s", {"a": 2}, _counting_stage(calls)).ran  # output missing
    assert len(calls) == 4


def test_interrupted_stage_is_not_complete(tmp_path):
    project = Project(tmp_path)

    def crash(directory):
        atomic_write_text(directory / "part.txt", "partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        project.run_stage("s", {"a": 1}, crash)
    assert not project.is_complete("s", {"a": 1})
    assert project.run_stage("s", {"a": 1}, _counting_stage([])).ran


def test_inputs_hash_is_order_independent():
    assert inputs_hash({"a": 1, "b": [1, 2]}) == inputs_hash({"b": [1, 2], "a": 1})
    assert inputs_hash({"a": 1}) != inputs_hash({"a": 1.5})
