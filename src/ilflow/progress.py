"""Progress of long library work (MD, classical runs, labelling), reported here and rendered elsewhere.

Library code wraps a long loop in a task and reports the count done, with optional fields::

    with progress.task("MD", total=steps, unit="steps", done=resumed_at) as task:
        ...
        task.update(step, ns_per_day=1.53)

Every task logs plain lines through the `ilflow.progress` logger: when it starts, at most every INTERVAL_S
seconds while it runs, and when it ends, e.g. "MD: 4000/20000 steps (20%), 1.53 ns/day, ETA 3 min"; the record
carries the same as data in its `progress` attribute (`Task.record`). A front
end (the command line) may install a renderer with `rendering(renderer)` that also draws the tasks, e.g. as
bars on a terminal; the lines are logged either way. Fields are shown as "<value> <name>", with `_per_` in a
name written as "/" and other underscores as spaces: ns_per_day=1.53 -> "1.53 ns/day", failed=2 -> "2 failed".
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

logger = logging.getLogger(__name__)

INTERVAL_S = 30.0  # at most one line per task this often while it runs
clock = time.monotonic  # the tasks' clock (tests replace it)


class Renderer(Protocol):
    """What a front end implements to draw tasks; called from the thread that reports."""

    def start(self, task: "Task") -> None: ...

    def update(self, task: "Task") -> None: ...

    def finish(self, task: "Task") -> None: ...


_renderer: Renderer | None = None


@contextmanager
def rendering(renderer: Renderer) -> Iterator[None]:
    """Draw the tasks started while the block runs with `renderer` (the previous one is restored after)."""
    global _renderer
    previous, _renderer = _renderer, renderer
    try:
        yield
    finally:
        _renderer = previous


def duration(seconds: float) -> str:
    """A rough human duration: "45 s", "3 min", "2.1 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _number(value) -> str:
    """Integers and text as they are, other numbers (numpy's too) to 3 significant digits (no exponent)."""
    if isinstance(value, (int, str)):
        return str(value)
    value = float(value)
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


class Task:
    """One long piece of work: `total` units (None if unknown), `done` of them so far."""

    def __init__(self, name: str, total: int | None, unit: str, done: int, interval_s: float):
        self.name, self.total, self.unit, self.done = name, total, unit, done
        self.fields: dict = {}
        self.interval_s = interval_s
        self.renderer = _renderer  # the one installed when the task started draws it to the end
        self.started = self._logged = clock()
        self._start = (self.started, done)  # a continued task: the rate counts only what this run did
        self._first_update: tuple[float, int] | None = None

    def update(self, done: int, **fields) -> None:
        """`done` units are done now (a count, not an increment); fields replace those given before."""
        if self._first_update is None:
            self._first_update = (clock(), done)
        self.done = done
        self.fields.update(fields)
        if self.renderer is not None:
            self.renderer.update(self)
        complete = self.total is not None and self.done >= self.total  # the end line follows
        if clock() - self._logged >= self.interval_s and not complete:
            self._log(self.eta())

    @property
    def elapsed_s(self) -> float:
        return clock() - self.started

    @property
    def rate(self) -> float | None:
        """Units per second since the first update once there is progress after it (leaving out set-up such as
        compiling or equilibrating), until then since the start; None before any progress."""
        now = clock()
        for since, done in filter(None, (self._first_update, self._start)):
            if self.done > done and now > since:
                return (self.done - done) / (now - since)
        return None

    def speed(self) -> str:
        """"3.2 steps/s", or "" before any progress."""
        rate = self.rate
        return "" if rate is None else f"{_number(rate)} {self.unit or 'units'}/s"

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate; None while the rate or the total is unknown, and once it is done."""
        rate = self.rate
        if rate is None or not self.total or self.done >= self.total:
            return None
        return (self.total - self.done) / rate

    def eta(self) -> str:
        """"ETA 3 min", or "" when `eta_s` is None."""
        eta_s = self.eta_s
        return "" if eta_s is None else f"ETA {duration(eta_s)}"

    def count(self) -> str:
        """"4000/20000 steps (20%)"."""
        unit = f" {self.unit}" if self.unit else ""
        if not self.total:
            return f"{self.done}{unit}"
        return f"{self.done}/{self.total}{unit} ({100 * self.done / self.total:.0f}%)"

    def details(self) -> str:
        """The fields: "1.53 ns/day, 2 failed"."""
        return ", ".join(f"{_number(value)} {name.replace('_per_', '/').replace('_', ' ')}"
                         for name, value in self.fields.items())

    def line(self, status: str = "") -> str:
        """"MD: 4000/20000 steps (20%), 1.53 ns/day, ETA 3 min"."""
        return f"{self.name}: " + ", ".join(part for part in (self.count(), self.details(), status) if part)

    def record(self, status: str = "") -> dict:
        """The task's state as JSON-ready data (for machine-read logs): name, done, total, unit, rate per second,
        ETA in seconds, status and fields."""
        return {"task": self.name, "done": self.done, "total": self.total, "unit": self.unit,
                "rate_per_s": self.rate, "eta_s": self.eta_s, "status": status,
                **{name: value if isinstance(value, (int, str)) else float(value)
                   for name, value in self.fields.items()}}

    def _log(self, status: str) -> None:
        self._logged = clock()
        logger.info(self.line(status), extra={"progress": self.record(status)})


@contextmanager
def task(name: str, total: int | None, unit: str = "", done: int = 0,
         interval_s: float | None = None) -> Iterator[Task]:
    """A task reported while the block runs: a line at the start, at most every `interval_s` (INTERVAL_S)
    seconds after an update, and at the end (with the time taken, or what stopped it)."""
    current = Task(name, total, unit, done, INTERVAL_S if interval_s is None else interval_s)
    current._log("started")
    if current.renderer is not None:
        current.renderer.start(current)
    try:
        yield current
    except BaseException as exc:
        current._log(f"stopped after {duration(current.elapsed_s)} ({type(exc).__name__})")
        raise
    else:
        current._log(f"finished in {duration(current.elapsed_s)}")
    finally:
        if current.renderer is not None:
            current.renderer.finish(current)
