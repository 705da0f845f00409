"""ilflow.progress: plain log lines at the start, every interval and at the end (counts, fields, ETA); a renderer
installed by the CLI draws bars on a terminal and the log file keeps the lines; library modules do not import
rich."""

import io
import logging
import subprocess
import sys

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
    assert screen.getvalue().splitlines() == ["labelling: 0/2 frames (0%), started",
                                              "labelling: 2/2 frames (100%), 2 labelled, 0 failed, finished in 0 s"]


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
