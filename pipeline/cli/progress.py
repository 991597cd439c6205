"""The rich progress bar (frames, fps, ETA) and warnings, both on stderr.

The bar is shown only when stderr is a terminal and ``--quiet`` was not given, so logs and CI output
stay clean. Everything fits an 80-column terminal: the label is cut with an ellipsis before the bar,
the count, the rate or the ETA lose a character, and log lines are packed from whole phrases
(:func:`pack`) instead of being wrapped wherever the terminal ends.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TextColumn


_console: Console | None = None


def stderr_console() -> Console:
    """The rich console on stderr, created on first use: importing rich costs ~70 ms, a tenth of a
    short quiet passthrough that never prints."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(stderr=True, highlight=False)
    return _console


class _LazyConsole:
    """Stands in for :func:`stderr_console` until something is printed."""

    def __getattr__(self, name: str) -> Any:
        return getattr(stderr_console(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(stderr_console(), name, value)


console: Console = _LazyConsole()  # type: ignore[assignment]


def warn(message: str) -> None:
    console.print(f"[yellow]facepipe: warning:[/yellow] {message}", markup=True, soft_wrap=True)


def pack(phrases: list[str], width: int = 80, indent: str = "  ") -> list[str]:
    """Lines of at most ``width`` characters made of whole phrases (the first line unindented)."""
    lines: list[str] = []
    current = ""
    for phrase in phrases:
        candidate = f"{current}, {phrase}" if current else (indent if lines else "") + phrase
        if current and len(candidate) > width:
            lines.append(current + ",")
            current = indent + phrase
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def label_column(width: int = 28) -> TextColumn:
    """The task label, cut with an ellipsis so the count and ETA always keep their room."""
    from rich.progress import TextColumn
    from rich.table import Column

    return TextColumn("[bold]{task.description}", table_column=Column(max_width=width, no_wrap=True, overflow="ellipsis"))


def wants_bar(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


class FrameProgress:
    """A progress bar driven by the runner's per-frame callback (throttled to 10 updates/s)."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task, self._last = progress, task, 0.0

    def update(self, stats: object) -> None:
        if self._progress is None or self._task is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        frames = getattr(stats, "frames_out", 0)
        elapsed = max(1e-6, now - self._started)
        self._progress.update(self._task, completed=frames, fps=f"{frames / elapsed:6.1f} fps")

    _started = time.monotonic()


def frame_columns() -> tuple:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.table import Column

    return (label_column(), BarColumn(bar_width=None, table_column=Column(min_width=8, ratio=1)),
            MofNCompleteColumn(), TextColumn("{task.fields[fps]}", table_column=Column(no_wrap=True)),
            TimeRemainingColumn())


@contextmanager
def frame_progress(label: str, total: int | None, quiet: bool) -> Iterator[FrameProgress]:
    if not wants_bar(quiet):
        yield FrameProgress(None, None)
        return
    from rich.progress import Progress

    with Progress(*frame_columns(), console=stderr_console(), transient=False) as progress:
        task = progress.add_task(label, total=total or None, fps="")
        tracker = FrameProgress(progress, task)
        tracker._started = time.monotonic()
        yield tracker
        progress.update(task, completed=progress.tasks[0].completed)


class JobProgress:
    """``on_done`` for :func:`pipeline.jobs.run_jobs`: a bar over jobs with done, failed and ETA."""

    def __init__(self, progress: Progress | None, task: int | None, label: str, quiet: bool) -> None:
        self._progress, self._task, self._label, self._quiet = progress, task, label, quiet
        self.done = 0
        self.failed = 0

    def __call__(self, result: object) -> None:
        self.done += 1
        if not getattr(result, "ok", True):
            self.failed += 1
            if not self._quiet:
                warn(f"{self._label}: {getattr(result, 'key', '?')} failed: {getattr(result, 'error', '')}")
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done, failed=f"{self.failed} failed" if self.failed else "")


@contextmanager
def job_progress(label: str, total: int, quiet: bool) -> Iterator[JobProgress]:
    """A rich bar over a batch of jobs (hidden when stderr is not a terminal or with ``--quiet``)."""
    if not total or not wants_bar(quiet):
        yield JobProgress(None, None, label, quiet)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[failed]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr_console(), transient=False) as progress:
        task = progress.add_task(label, total=total, failed="")
        yield JobProgress(progress, task, label, quiet)
