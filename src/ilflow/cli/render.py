"""How the command line shows the library's log: plain lines on the console while a command runs, and the same
lines with times in `<project>/ilflow.log`; the progress of long tasks (ilflow.progress) as rich bars when the
console is a terminal, else as their plain lines (every 30 s and at the end), with the time of day in front.

The global options set `output` once per command: `--quiet` shows only warnings and errors (the log file keeps
everything), `--log-json` writes one JSON object per record instead of lines and bars (for batch systems and
scripts). Records that Dask workers forwarded (`record.task`, see ilflow.distributed) are shown as lines even on
a terminal: the client draws no bar for them.
"""

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ilflow import progress
from ilflow.cli.options import console


@dataclass
class Output:
    """How the console shows the log (the global options)."""

    quiet: bool = False  # warnings and errors only
    json: bool = False  # one JSON object per record


output = Output()


class ConsoleHandler(logging.Handler):
    """Library log records as plain console lines (warnings in yellow), with the time of day in front when the
    console is no terminal (a log file of a batch job)."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        style = "yellow" if record.levelno >= logging.WARNING else ""
        when = "" if console.is_terminal else time.strftime("%H:%M:%S ", time.localtime(record.created))
        console.print(Text(when + record.getMessage(), style=style))  # the style of the line only, not of live bars


class JsonHandler(logging.Handler):
    """Library log records as JSON objects, one per line: time (ISO 8601), level, logger, message, and for the
    progress of a task its state (ilflow.progress.Task.record) under "progress"."""

    def emit(self, record: logging.LogRecord) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created)),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in ("progress", "task"):
            if getattr(record, name, None) is not None:
                entry[name] = getattr(record, name)
        console.file.write(json.dumps(entry) + "\n")
        console.file.flush()


class Bars:
    """ilflow.progress tasks as rich bars with count, rate, fields and ETA (the task's own: rich's needs frequent
    updates); log lines print above them (one rich Progress on the CLI console while any task runs)."""

    def __init__(self):
        self._bars = None
        self._ids: dict[int, int] = {}
        self._lock = threading.Lock()

    def start(self, task: progress.Task) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._bars is None:
                self._bars = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.fields[text]}"), console=console)
                self._bars.start()
            self._ids[id(task)] = self._bars.add_task(task.name, total=task.total, completed=task.done,
                                                      text=self._text(task))

    def update(self, task: progress.Task) -> None:
        with self._lock:
            self._bars.update(self._ids[id(task)], completed=task.done, text=self._text(task))

    def finish(self, task: progress.Task) -> None:
        with self._lock:
            self._bars.update(self._ids.pop(id(task)), completed=task.done, text=self._text(task))
            if not self._ids:  # the finished bars stay on the screen
                self._bars.stop()
                self._bars = None

    @staticmethod
    def _text(task: progress.Task) -> str:
        return "  ".join(part for part in (task.count(), task.speed(), task.details(), task.eta()) if part)


def _drawing_bars() -> bool:
    return console.is_terminal and not output.quiet and not output.json


def _shown() -> logging.Handler:
    """The console's handler for the current `output`; with bars, the lines of the tasks they draw are left out."""
    shown = JsonHandler() if output.json else ConsoleHandler()
    if output.quiet:
        shown.setLevel(logging.WARNING)
    if _drawing_bars():
        shown.addFilter(lambda record: not (record.name.startswith(progress.logger.name)
                                            and getattr(record, "task", None) is None))
    return shown


@contextmanager
def _bars() -> Iterator[None]:
    """Bars on a terminal (unless quiet or JSON); elsewhere nothing (the progress lines are logged anyway)."""
    if _drawing_bars():
        with progress.rendering(Bars()):
            yield
    else:
        yield


@contextmanager
def _attached(logger: logging.Logger, handlers: list[logging.Handler]) -> Iterator[None]:
    previous = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous)


@contextmanager
def logging_to(root: Path) -> Iterator[None]:
    """Render the `ilflow` loggers on the console and append them to the project's log (<root>/ilflow.log) while
    the block runs; on a terminal the progress of long tasks is drawn as bars instead of console lines (the file
    has the lines)."""
    from ilflow.project import Project

    path = Project(root).log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(path, delay=True)  # no log file for a command refused before it logs
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    with _attached(logging.getLogger("ilflow"), [_shown(), log_file]), _bars():
        yield


@contextmanager
def progress_shown() -> Iterator[None]:
    """The progress of long tasks on the console while the block runs (commands without a project log):
    bars on a terminal, else the plain progress lines."""
    with _attached(progress.logger, [_shown()]), _bars():
        yield
