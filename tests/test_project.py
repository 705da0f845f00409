"""The stage engine: atomic writes, manifests, skip / resume / redo, superseded results, status, bad records."""

import json

import pytest

import ilflow
from ilflow.manifest import FORMAT, ProjectError, file_sha256
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


def _counting_stage(calls, text="run"):
    def produce(directory):
        calls.append(sorted(p.name for p in directory.iterdir()))
        out = directory / "result.txt"
        atomic_write_text(out, f"{text} {len(calls)}\n")
        return [out]

    return produce


def test_stage_runs_once_then_skips(tmp_path):
    project, calls = Project(tmp_path), []
    first = project.run_stage("s", {"a": 1}, _counting_stage(calls))
    second = project.run_stage("s", {"a": 1}, _counting_stage(calls))
    assert (first.ran, second.ran, len(calls)) == (True, False, 1)
    assert second.outputs == first.outputs and first.outputs[0].read_text() == "run 1\n"
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["inputs"] == {"a": 1} and manifest["state"] == "done" and manifest["format"] == FORMAT
    assert manifest["ilflow_version"] == ilflow.__version__
    out = tmp_path / "s" / "result.txt"
    assert manifest["outputs"] == [{"path": "result.txt", "size_bytes": len("run 1\n"), "sha256": file_sha256(out)}]
    assert manifest["outputs_hash"] == inputs_hash([["result.txt", file_sha256(out)]])


def test_changed_inputs_redo_from_a_clean_directory(tmp_path):
    project, calls = Project(tmp_path), []
    project.run_stage("cheap", {"a": 1}, _counting_stage(calls))
    redone = project.run_stage("cheap", {"a": 2}, _counting_stage(calls))
    assert redone.ran and redone.superseded is None and calls[1] == ["manifest.json"]  # clean: only the new manifest
    project.run_stage("costly", {"a": 1}, _counting_stage(calls, "old"), expensive=True)
    redone = project.run_stage("costly", {"a": 2}, _counting_stage(calls, "new"), expensive=True)
    assert calls[-1] == ["manifest.json", "superseded"]
    kept = redone.superseded
    assert kept.parent == tmp_path / "costly" / "superseded" and (kept / "result.txt").read_text() == "old 3\n"
    assert json.loads((kept / "manifest.json").read_text())["inputs"] == {"a": 1}
    assert project.status("costly", {"a": 2}).state == "done"
    (tmp_path / "costly" / "result.txt").write_text("truncated")  # damaged output: redone
    assert project.status("costly", {"a": 2}).changed == ("outputs damaged",)
    assert project.run_stage("costly", {"a": 2}, _counting_stage(calls), expensive=True).ran


def test_upstream_change_propagates_and_status_names_it(tmp_path):
    project, calls = Project(tmp_path), []
    up = project.run_stage("up", {"x": 1}, _counting_stage(calls)).manifest
    project.run_stage("down", {"y": 1}, _counting_stage(calls), [up])
    assert project.status("down", {"y": 1}, [up]).state == "done"
    assert project.status("down", {"y": 2}, [up]).changed == ("y",)
    atomic_write_text(tmp_path / "up" / "result.txt", "other content\n")  # same stage, other outputs
    up2 = project.run_stage("up", {"x": 2}, _counting_stage(calls, "changed")).manifest
    assert up2.outputs_hash != up.outputs_hash
    status = project.status("down", {"y": 1}, [up2])
    assert status.state == "stale" and status.changed == ("upstream up",)
    seen = {"up": project.status("up", {"x": 3})}
    assert project.status_after(seen, "down", {"y": 1}, ["up"]).changed == ("upstream up (stale)",)
    assert project.run_stage("down", {"y": 1}, _counting_stage(calls), [up2]).ran


def test_interrupted_stage_resumes_in_its_directory(tmp_path):
    project = Project(tmp_path)

    def crash(directory):
        atomic_write_text(directory / "part.txt", "partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        project.run_stage("s", {"a": 1}, crash, expensive=True)
    assert project.status("s", {"a": 1}).state == "interrupted"
    seen = []

    def resume(directory):
        seen.append((directory / "part.txt").read_text())
        return [directory / "part.txt"]

    assert project.run_stage("s", {"a": 1}, resume, expensive=True).ran and seen == ["partial"]
    # an interrupted stage whose inputs changed starts clean, its partial work kept aside
    with pytest.raises(KeyboardInterrupt):
        project.run_stage("t", {"a": 1}, crash, expensive=True)
    fresh = project.run_stage("t", {"a": 2}, lambda d: [atomic_write_text(d / "x", "x")], expensive=True)
    assert not (tmp_path / "t" / "part.txt").exists() and (fresh.superseded / "part.txt").exists()


def test_bad_records_are_refused_and_kept(tmp_path):
    project = Project(tmp_path)
    project.run_stage("s", {"a": 1}, _counting_stage([]))
    manifest = tmp_path / "s" / "manifest.json"
    manifest.write_text("{ not json")
    with pytest.raises(ProjectError, match="corrupt"):
        project.run_stage("s", {"a": 1}, _counting_stage([]))
    manifest.write_text(json.dumps({"stage": "s", "inputs_hash": "abc", "ilflow_version": "0.0.1"}))
    with pytest.raises(ProjectError, match="0.0.1 in another format"):
        project.status("s", {"a": 1})
    assert (tmp_path / "s" / "result.txt").exists()  # nothing deleted


def test_a_directory_of_another_campaign_is_refused(tmp_path):
    Project(tmp_path).claim("first")
    Project(tmp_path).claim("first")
    with pytest.raises(ProjectError, match="'first', not 'second'"):
        Project(tmp_path).claim("second")


def test_inputs_hash_is_order_independent():
    assert inputs_hash({"a": 1, "b": [1, 2]}) == inputs_hash({"b": [1, 2], "a": 1})
    assert inputs_hash({"a": 1}) != inputs_hash({"a": 1.5})
