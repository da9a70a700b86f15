"""Progress of a long merge: a rich bar on a terminal, nothing in logs and pipes."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn


class MergeProgress:
    """A rich progress bar over the items judged, on a terminal only (quiet in logs and pipes)."""

    def __init__(self, total: int, *, quiet: bool = False, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        self._bar = (
            Progress(
                "merge: looking for cross-run duplicates",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if console.is_terminal and not quiet
            else None
        )
        self._task = self._bar.add_task("twins", total=total) if self._bar else None

    def __enter__(self) -> MergeProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    @property
    def completed(self) -> float:
        """Items judged so far (0 when no bar is shown)."""
        return self._bar.tasks[0].completed if self._bar is not None else 0

    def advance(self, done: int) -> None:
        """``done`` more items judged."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, done)
