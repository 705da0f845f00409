"""How the command line shows the library's log: plain lines on the console while a command runs, and the same
lines with times in `<project>/ilflow.log`."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ilflow.cli.options import console

LOG_FILE = "ilflow.log"


class ConsoleHandler(logging.Handler):
    """Library log records as plain console lines (warnings in yellow)."""

    def emit(self, record: logging.LogRecord) -> None:
        style = "yellow" if record.levelno >= logging.WARNING else None
        console.print(record.getMessage(), markup=False, highlight=False, style=style)


@contextmanager
def logging_to(root: Path) -> Iterator[None]:
    """Render the `ilflow` loggers on the console and append them to <root>/ilflow.log while the block runs."""
    root.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("ilflow")
    log_file = logging.FileHandler(root / LOG_FILE)
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers = [ConsoleHandler(), log_file]
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
