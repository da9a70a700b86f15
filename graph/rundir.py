"""The run directory: every file a run owns, written so that a crash never leaves a partial line."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import BaseModel

from graph.errors import UserError

DATASET = "dataset.jsonl"
REJECTED = "rejected.jsonl"
SUMMARIES = "summaries.jsonl"
ADVICE = "advice.jsonl"
ROUNDS = "rounds.jsonl"
CONFIG = "config.json"
STATS = "stats.json"
MEMORY = "memory"
MEMORY_REF = "memory.json"  # where the memory lives when it is on a Chroma server
CHECKPOINTS = "checkpoints.sqlite"
LOCK = ".lock"
# Any of these means the directory already holds a run.
RUN_MARKERS = (CONFIG, DATASET, MEMORY)


class RunDirectory:
    """Files of one run under ``path``; appends are whole lines, flushed and synced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # generator branches append from several threads

    @classmethod
    def create(cls, path: Path) -> RunDirectory:
        """Make a new run directory; refuse one that already holds a run or is not writable."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} exists and is not a directory")
        found = [name for name in RUN_MARKERS if (path / name).exists()]
        if found:
            raise UserError(
                f"--out {path} already holds a run ({found[0]}); choose a new directory"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"cannot write to --out {path}: {exc.strerror or exc}") from None
        return cls(path)

    def file(self, name: str) -> Path:
        """Path of a file of this run."""
        return self.path / name

    def append(self, name: str, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
        """Append rows as JSON lines in one write, then fsync; returns how many were written."""
        lines = [
            (
                row.model_dump_json()
                if isinstance(row, BaseModel)
                else json.dumps(row, ensure_ascii=False)
            )
            + "\n"
            for row in rows
        ]
        if not lines:
            return 0
        with self._lock, open(self.file(name), "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        return len(lines)

    def write_json(self, name: str, data: Any) -> None:
        """Replace a JSON file atomically (write a temporary file, then rename)."""
        target = self.file(name)
        temporary = target.with_suffix(target.suffix + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())  # the rename must never expose an empty file after a crash
        os.replace(temporary, target)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold this run's writer lock; a second process is refused at once.

        The lock is an OS file lock (``filelock``): it dies with its process, so a lock left by a
        killed run never blocks ``--resume``.
        """
        guard = FileLock(str(self.file(LOCK)), timeout=0)
        try:
            guard.acquire()
        except Timeout:
            raise UserError(
                f"another process is writing to {self.path}; wait for it or stop it"
            ) from None
        try:
            yield
        finally:
            guard.release()

    def repair_jsonl(self, name: str) -> int:
        """Drop a partial last line left by a crash; a corrupt complete line is a ``UserError``."""
        target = self.file(name)
        if not target.exists():
            return 0
        data = target.read_bytes()
        cut = data.rfind(b"\n") + 1
        for number, line in enumerate(data[:cut].splitlines(), start=1):
            try:
                json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UserError(f"{target}:{number} is corrupted; cannot resume safely") from None
        if cut < len(data):
            with open(target, "r+b") as handle:
                handle.truncate(cut)
                os.fsync(handle.fileno())
        return len(data) - cut

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        """All rows of a JSONL file of this run (empty if absent)."""
        target = self.file(name)
        if not target.exists():
            return []
        with open(target, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
