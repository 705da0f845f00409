"""How the command line shows the library's log: plain lines on the console while a command runs, and the same
lines with times in `<project>/ilflow.log`; the progress of long tasks (ilflow.progress) as rich bars when the
console is a terminal, else as their plain lines (every 30 s and at the end)."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ilflow import progress
from ilflow.cli.options import console



class ConsoleHandler(logging.Handler):
    """Library log records as plain console lines (warnings in yellow)."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        style = "yellow" if record.levelno >= logging.WARNING else ""
        console.print(Text(record.getMessage(), style=style))  # the style of the line only, not of live bars


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


def _bars():
    """Bars on a terminal; elsewhere nothing (the progress lines are logged anyway)."""
    return progress.rendering(Bars()) if console.is_terminal else nullcontext()


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
    shown = ConsoleHandler()
    if console.is_terminal:
        shown.addFilter(lambda record: not record.name.startswith(progress.logger.name))
    with _attached(logging.getLogger("ilflow"), [shown, log_file]), _bars():
        yield


@contextmanager
def progress_shown() -> Iterator[None]:
    """The progress of long tasks on the console while the block runs (commands without a project log):
    bars on a terminal, else the plain progress lines."""
    with progress.rendering(Bars()) if console.is_terminal else _attached(progress.logger, [ConsoleHandler()]):
        yield
