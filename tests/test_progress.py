"""ilflow.progress: plain log lines at the start, every interval and at the end (counts, fields, ETA); a renderer
installed by the CLI draws bars on a terminal and the log file keeps the lines; library modules do not import
rich."""

import io
import json
import logging
import re
import subprocess
import sys
import time

import pytest

from ilflow import progress
from ilflow.project import Project


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress, "clock", fake)
    return fake


def lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "ilflow.progress"]


def test_lines_at_start_every_interval_and_end(caplog, clock):
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    with progress.task("MD", total=20000, unit="steps", interval_s=30) as task:
        clock.now += 10
        task.update(1000, ns_per_day=1.53)  # within the interval: no line
        clock.now += 30
        task.update(4000, ns_per_day=1.53)  # 4000 steps in 40 s: 16000 more take 160 s
        clock.now += 5
        task.update(4500, ns_per_day=1.6)  # 5 s after the last line: none
        clock.now += 155
        task.update(20000, ns_per_day=1.6)  # complete: the end line follows, no interval line
    assert lines(caplog) == [
        "MD: 0/20000 steps (0%), started",
        "MD: 4000/20000 steps (20%), 1.53 ns/day, ETA 3 min",
        "MD: 20000/20000 steps (100%), 1.6 ns/day, finished in 3 min",
    ]


def test_continued_task_counts_its_own_rate_and_fields_read_plainly(caplog, clock):
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    with progress.task("labelling", total=100, unit="frames", done=50, interval_s=0) as task:
        clock.now += 10
        task.update(60, labelled=9, failed=1)  # 10 frames in 10 s: 40 left take 40 s
        assert task.speed() == "1 frames/s"
    assert lines(caplog)[1] == "labelling: 60/100 frames (60%), 9 labelled, 1 failed, ETA 40 s"


def test_the_rate_leaves_out_the_set_up_before_the_first_update(clock):
    with progress.task("MD", total=10000, unit="steps") as task:
        clock.now += 100  # compiling
        task.update(1000)
        assert task.eta() == "ETA 15 min"  # one update: the rate since the start (10 steps/s)
        clock.now += 10
        task.update(2000)
        assert task.speed() == "100 steps/s" and task.eta() == "ETA 80 s"


def test_an_exception_ends_the_task_with_what_stopped_it(caplog, clock):
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    with pytest.raises(KeyboardInterrupt):
        with progress.task("classical NVT at 300 K", total=None, unit="frames") as task:
            task.update(3, K=301.4, g_per_cm3=1.1934)
            clock.now += 120
            raise KeyboardInterrupt
    assert lines(caplog)[-1] == "classical NVT at 300 K: 3 frames, 301 K, 1.19 g/cm3, stopped after 2 min " \
                                "(KeyboardInterrupt)"


def test_a_renderer_sees_start_updates_and_finish_and_the_lines_are_still_logged(caplog, clock):
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    seen = []

    class Recorder:
        def start(self, task):
            seen.append(("start", task.done))

        def update(self, task):
            seen.append(("update", task.done))

        def finish(self, task):
            seen.append(("finish", task.done))

    with progress.rendering(Recorder()):
        with progress.task("MD", total=10, unit="steps") as task:
            task.update(10)
    with progress.task("MD", total=10, unit="steps") as task:  # the renderer is gone again
        task.update(10)
    assert seen == [("start", 0), ("update", 10), ("finish", 10)]
    assert len(lines(caplog)) == 4


def test_cli_terminal_bars_and_log_file(tmp_path, monkeypatch, clock):
    """On a terminal the console shows the bar, not the progress lines; <dir>/ilflow.log has the lines."""
    from rich.console import Console

    from ilflow.cli import render

    screen = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=screen, force_terminal=True, width=120))
    with render.logging_to(tmp_path):
        logging.getLogger("ilflow.workflow").info("a stage line")
        with progress.task("MD", total=40, unit="steps") as task:
            clock.now += 4
            task.update(40, ns_per_day=2.5)
    shown, logged = screen.getvalue(), Project(tmp_path).log_path.read_text()
    assert "a stage line" in shown and "40/40 steps (100%)" in shown and "10 steps/s" in shown
    assert "MD: 40/40" not in shown  # the bar, not the line
    assert "a stage line" in logged and "MD: 40/40 steps (100%), 2.5 ns/day, finished in 4 s" in logged


def test_cli_not_a_terminal_prints_the_lines(monkeypatch, clock):
    from rich.console import Console

    from ilflow.cli import render

    screen = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=screen, force_terminal=False, width=120))
    with render.progress_shown():
        with progress.task("labelling", total=2, unit="frames") as task:
            task.update(2, labelled=2, failed=0)
    shown = screen.getvalue().splitlines()
    assert [line[9:] for line in shown] == ["labelling: 0/2 frames (0%), started",
                                            "labelling: 2/2 frames (100%), 2 labelled, 0 failed, finished in 0 s"]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d ", line[:9]) for line in shown)  # the time of day, for batch logs


@pytest.fixture
def screen(monkeypatch):
    """The CLI console as a string buffer that is no terminal, with the output settings restored after."""
    from rich.console import Console

    from ilflow.cli import render

    buffer = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=buffer, force_terminal=False, width=120))
    monkeypatch.setattr(render, "output", render.Output())
    return buffer


def test_log_json_writes_one_object_per_record_with_the_task_state(tmp_path, screen, clock):
    from ilflow.cli import render

    render.output = render.Output(json=True)
    with render.logging_to(tmp_path):
        logging.getLogger("ilflow.workflow").warning("a warning")
        with progress.task("MD", total=40, unit="steps", interval_s=30) as task:
            clock.now += 2
            task.update(10, ns_per_day=2.5)
            clock.now += 30
            task.update(20, ns_per_day=2.5)
    entries = [json.loads(line) for line in screen.getvalue().splitlines()]
    assert [e["level"] for e in entries] == ["warning", "info", "info", "info"]
    assert entries[0]["message"] == "a warning" and entries[0]["logger"] == "ilflow.workflow"
    middle = entries[2]["progress"]
    # 10 steps in the 30 s since the first update: 1/3 step/s, 20 steps left -> 60 s
    assert middle["task"] == "MD" and middle["done"] == 20 and middle["total"] == 40 and middle["unit"] == "steps"
    assert middle["rate_per_s"] == pytest.approx(1 / 3) and middle["eta_s"] == pytest.approx(60.0)
    assert middle["ns_per_day"] == 2.5
    assert entries[2]["message"] == "MD: 20/40 steps (50%), 2.5 ns/day, ETA 60 s"
    assert entries[3]["progress"]["status"].startswith("finished in")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", entries[0]["time"])


def test_quiet_shows_warnings_only_and_the_log_file_keeps_every_line(tmp_path, screen, clock):
    from ilflow.cli import render

    render.output = render.Output(quiet=True)
    with render.logging_to(tmp_path):
        logging.getLogger("ilflow.workflow").info("a stage line")
        logging.getLogger("ilflow.workflow").warning("a warning")
        with progress.task("MD", total=4, unit="steps") as task:
            task.update(4)
    assert [line[9:] for line in screen.getvalue().splitlines()] == ["a warning"]
    logged = Project(tmp_path).log_path.read_text()
    assert "a stage line" in logged and "a warning" in logged and "MD: 4/4 steps (100%)" in logged


def test_global_options_set_the_output_and_the_interval(monkeypatch):
    from typer.testing import CliRunner

    from ilflow.cli import app, render

    monkeypatch.setattr(render, "output", render.Output())
    monkeypatch.setattr(progress, "INTERVAL_S", progress.INTERVAL_S)
    result = CliRunner().invoke(app, ["--quiet", "--log-json", "--progress-interval-s", "5", "status", "--help"])
    assert result.exit_code == 0, result.output
    assert render.output == render.Output(quiet=True, json=True) and progress.INTERVAL_S == 5.0
    result = CliRunner().invoke(app, ["--progress-interval-s", "0", "status", "--help"])
    assert result.exit_code == 2 and "progress-interval-s" in result.output
    result = CliRunner(env={"ILFLOW_QUIET": "1"}).invoke(app, ["status", "--help"])
    assert result.exit_code == 0 and render.output.quiet


def test_training_reports_epochs_and_losses(caplog, clock):
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator

    from ilflow.config.model import Model, Training
    from ilflow.training.api import gmnn_config
    from ilflow.training.trainer import train

    frames = []
    for k in range(4):
        atoms = molecule("H2O")
        atoms.rattle(0.05, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-0.1 * k, forces=0.1 * atoms.positions)
        frames.append(atoms)
    model = Model(hidden_layers=[8], n_basis=4, n_radial=2)
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    _, history = train(gmnn_config(model, [1, 8]), frames[:3], frames[3:], Training(epochs=3, batch_size=2))
    first, *_, last = lines(caplog)
    assert first == "training: 0/3 epochs (0%), started"
    losses = history.rows[-1]
    assert last.startswith(f"training: 3/3 epochs (100%), {losses['train_loss']:.3g} train loss, "
                           f"{losses['val_loss']:.3g} validation loss, finished in ")


def _logs_on_a_worker(steps: int) -> int:
    logging.getLogger("ilflow.production.run").info("on the worker")
    with progress.task("MD", total=steps, unit="steps") as task:
        for step in range(1, steps + 1):
            task.update(step)
    return steps


def test_a_dask_task_with_log_forwards_its_records_and_progress_to_the_client(caplog):
    """A production run's MD runs on a worker process (on SLURM: another node); its lines reach the client's log
    under the run's label, progress data and interval included."""
    from ilflow.config.execution import Execution
    from ilflow.distributed import dask_client, with_log

    caplog.set_level(logging.INFO, logger="ilflow")
    with dask_client(Execution(workers=1)) as client:
        assert client.submit(with_log, "production/a", 0.0, _logs_on_a_worker, 3, pure=False).result() == 3
        forwarded = lambda: [r for r in caplog.records if getattr(r, "task", None) == "production/a"]  # noqa: E731
        waited = 0.0
        while len(forwarded()) < 6 and waited < 20:  # the scheduler pushes the events to the client
            time.sleep(0.1)
            waited += 0.1
    forwarded = forwarded()
    assert [r.getMessage() for r in forwarded][:2] == ["production/a: on the worker",
                                                       "production/a: MD: 0/3 steps (0%), started"]
    assert forwarded[0].name == "ilflow.production.run"
    # interval 0 s: a line for every update, each with its data
    assert [r.progress["done"] for r in forwarded if r.name == "ilflow.progress"] == [0, 1, 2, 3]


def test_run_md_logs_its_progress_with_ns_per_day(tmp_path, caplog):
    from ase.lattice.cubic import FaceCenteredCubic

    from ilflow.md import Langevin, RunSettings, lennard_jones, run_md

    atoms = FaceCenteredCubic("Ar", size=(2, 2, 2), latticeconstant=5.4)
    atoms.rattle(0.05, seed=0)
    caplog.set_level(logging.INFO, logger="ilflow.progress")
    summary = run_md(lennard_jones(), atoms, Langevin(5.0), RunSettings(steps=20, frame_every=5, frames_per_chunk=2),
                     tmp_path)
    first, *_, last = lines(caplog)
    assert first == "MD: 0/20 steps (0%), started"
    assert last.startswith("MD: 20/20 steps (100%), ") and " ns/day, finished in " in last
    assert f"{summary.ns_per_day:.3g} ns/day" in last or f"{summary.ns_per_day:.0f} ns/day" in last


def test_library_modules_do_not_import_rich():
    code = ("import sys, ilflow.md.runner, ilflow.labelling, ilflow.classical.run, ilflow.progress; "
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
