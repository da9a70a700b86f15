"""The run directory: every file a run owns, written so that a crash never leaves a partial line.

Side logs are idempotent: a node re-run after a crash (LangGraph replays the step that had not
been checkpointed) replaces what its first attempt wrote for the same round, never appends it
again. ``dataset.jsonl`` is guarded by item id instead (see ``RunResources.accepted_ids``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from pydantic import BaseModel

from agents.errors import UserError
from prompts import read_jsonl

DATASET = "dataset.jsonl"
REJECTED = "rejected.jsonl"
SUMMARIES = "summaries.jsonl"
ADVICE = "advice.jsonl"
ROUNDS = "rounds.jsonl"
PAIRS = "pairs.jsonl"
CONFIG = "config.json"
STATS = "stats.json"
MEMORY = "memory"
MEMORY_REF = "memory.json"  # where the memory lives when it is on a Chroma server
CHECKPOINTS = "checkpoints.sqlite"
CACHE = "cache.sqlite"  # the answer cache (agents.cache), unless --cache names another
LOCK = ".lock"
SIDE_LOGS = (REJECTED, SUMMARIES, ADVICE, ROUNDS, PAIRS)
# Any of these means the directory already holds a run.
RUN_MARKERS = (CONFIG, DATASET, MEMORY)


def _rejected_group(row: dict[str, Any]) -> Hashable:
    candidate = row.get("candidate") or {}
    return (row.get("round", candidate.get("round")), row.get("step", ""))


# What one step of one round writes to a side log: a re-run of that step replaces the group.
# A preference pair is its item's (one per accepted item): the contrast job of a resumed run that
# planned ahead pairs the items of several rounds at once.
GROUP_OF: dict[str, Callable[[dict[str, Any]], Hashable]] = {
    ROUNDS: lambda row: row.get("round"),
    SUMMARIES: lambda row: row.get("round"),
    ADVICE: lambda row: row.get("round"),
    PAIRS: lambda row: row.get("id"),
    REJECTED: _rejected_group,
}


def write_atomically(path: Path, text: str) -> None:
    """Replace a file in one rename (synced first), so a crash never leaves it half written."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must never expose an empty file after a crash
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _json_line(row: BaseModel | dict[str, Any]) -> str:
    if isinstance(row, BaseModel):
        return row.model_dump_json() + "\n"
    return json.dumps(row, ensure_ascii=False) + "\n"


class RunDirectory:
    """Files of one run under ``path``; appends are whole lines, flushed and synced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # generator branches append from several threads
        self._groups: dict[str, set[Hashable]] = {}  # per side log: groups already written

    @classmethod
    def create(cls, path: Path) -> RunDirectory:
        """Make a new run directory; refuse one that already holds a run or is not writable."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path} exists and is not a directory")
        found = [name for name in RUN_MARKERS if (path / name).exists()]
        if found:
            raise UserError(
                f"--out {path} already holds a run ({found[0]}); continue it with "
                f"--resume --out {path}, or choose a new directory"
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
        lines = [_json_line(row) for row in rows]
        if not lines:
            return 0
        with self._lock:
            self._append_lines(name, lines)
        return len(lines)

    def write_group(
        self,
        name: str,
        rows: Iterable[BaseModel | dict[str, Any]],
        group: Hashable | None = None,
    ) -> int:
        """Write one step's rows to a side log, replacing rows an earlier attempt wrote for it.

        The step's groups (``GROUP_OF[name]``: a round, a round and step, an item) are its rows'
        and ``group``. The first attempt appends; a re-run after a crash rewrites the file
        without those groups (atomically) and appends the new rows, so no line is ever doubled.
        Give ``group`` when a step may write no row: a re-run that writes none must still drop
        what its killed attempt wrote (an advisor step that plans ahead takes the advisor calls
        done by then, which its re-run may not find done yet).
        """
        dumped = [json.loads(_json_line(row)) for row in rows]
        group_of = GROUP_OF[name]
        groups = {group_of(row) for row in dumped} | ({group} if group is not None else set())
        if not groups:
            return 0
        with self._lock:
            seen = self._groups.get(name)
            if seen is None:
                seen = {group_of(row) for row in self.read_jsonl(name)}
                self._groups[name] = seen
            if groups & seen:
                kept = [row for row in self.read_jsonl(name) if group_of(row) not in groups]
                write_atomically(self.file(name), "".join(_json_line(row) for row in kept))
            if dumped:
                self._append_lines(name, [_json_line(row) for row in dumped])
            seen.update(groups)
        return len(dumped)

    def _append_lines(self, name: str, lines: list[str]) -> None:
        with open(self.file(name), "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())

    def write_json(self, name: str, data: Any) -> None:
        """Replace a JSON file of this run atomically."""
        write_atomically(self.file(name), json.dumps(data, indent=2, ensure_ascii=False) + "\n")

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

    def read_json(self, name: str) -> dict[str, Any]:
        """A JSON object file of this run (``{}`` if absent); anything else is a ``UserError``."""
        target = self.file(name)
        if not target.exists():
            return {}
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            raise UserError(f"{target} is unreadable or not JSON") from None
        if not isinstance(data, dict):
            raise UserError(f"{target}:1 is not a JSON object")
        return data

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        """All rows of a JSONL file of this run (empty if absent); a bad line is a ``UserError``."""
        target = self.file(name)
        if not target.exists():
            return []
        try:
            return read_jsonl(target)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(str(exc)) from None
