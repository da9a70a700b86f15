"""The run directories a merge reads: each one checked, named and compatible with the others.

Runs merge when their duplicates are judged the same way: the same embedding model, the same
duplicate threshold and the same grid (taxonomy and tactics). Everything else (seed, target,
strategy, models, concurrency) may differ between workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.errors import UserError
from agents.schemas import AcceptedItem, PreferencePair
from graph.exports.records import read_rows
from graph.runtime.rundir import CONFIG, DATASET, MEMORY_REF, PAIRS, REJECTED, STATS, RunDirectory

MERGE_RECORD = "merge.json"  # marks a directory written by ``python -m graph.merge``
# Configuration that decides whether two prompts are duplicates, or where an item sits.
COMPARED_FIELDS = ("embedding_provider", "duplicate_threshold")
GRID_FILES = ("taxonomy", "tactics")


@dataclass
class SourceRun:
    """One input run: where it is, who wrote it, and what it holds."""

    path: Path
    worker: str
    config: dict[str, Any]
    items: list[AcceptedItem]
    pairs: list[PreferencePair] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""
    writer: str = ""
    """The run's writer id in a shared memory namespace (``memory.json``), else ``""``."""


def read_run(path: Path) -> SourceRun:
    """A run directory's dataset, pairs, rejections, stats and writer; ``UserError`` if unusable."""
    if not path.exists():
        raise UserError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise UserError(f"{path} is not a directory")
    if (path / MERGE_RECORD).exists():
        raise UserError(f"{path} is a merged dataset, not a run; give the runs it was merged from")
    if not (path / CONFIG).is_file():
        raise UserError(f"{path} is not a run directory (no {CONFIG})")
    if not (path / DATASET).is_file():
        raise UserError(f"{path} holds no {DATASET}: the run has accepted nothing yet")
    run = RunDirectory(path)
    config = run.read_json(CONFIG)
    ref = run.read_json(MEMORY_REF)
    pairs = read_rows(path / PAIRS, PreferencePair) if (path / PAIRS).is_file() else []
    writer = str(ref.get("writer") or "")
    return SourceRun(
        path=path,
        # In a shared namespace the writer id names the worker; a run of its own, its directory.
        worker=writer or path.resolve().name,
        config=config,
        items=read_rows(path / DATASET, AcceptedItem),
        pairs=pairs,
        rejected=run.read_jsonl(REJECTED),
        stats=run.read_json(STATS),
        namespace=str(ref.get("namespace") or ""),
        writer=writer,
    )


def check_distinct(paths: Sequence[Path]) -> None:
    """Refuse a run given twice (the same directory under two spellings included)."""
    seen: dict[Path, Path] = {}
    for path in paths:
        key = path.resolve()
        if key in seen:
            raise UserError(f"{path} is given twice (also as {seen[key]})")
        seen[key] = path


def check_same_writers(runs: Sequence[SourceRun]) -> None:
    """Refuse two directories that hold one run (a copy: same namespace and writer id)."""
    seen: dict[tuple[str, str], SourceRun] = {}
    for run in runs:
        if not run.writer:
            continue
        key = (run.namespace, run.writer)
        if key in seen:
            raise UserError(
                f"{run.path} and {seen[key].path} are the same run (writer {run.writer} in "
                f"namespace {run.namespace}): give it once"
            )
        seen[key] = run


def _grid_identity(config: dict[str, Any], name: str) -> str:
    """What a grid file of a run is: its content's digest when readable here, else its path."""
    value = str(config.get(name) or "")
    path = Path(value)
    if value and path.is_file():
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return value


def merge_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration that must agree between runs for their duplicates to be comparable."""
    settings = {name: config.get(name) for name in COMPARED_FIELDS}
    if config.get("embedding_provider") == "openai":  # the model name means nothing otherwise
        settings["embedding_model"] = config.get("embedding_model")
    return settings | {name: _grid_identity(config, name) for name in GRID_FILES}


def check_compatible(runs: Sequence[SourceRun]) -> dict[str, Any]:
    """The settings every run shares; a ``UserError`` naming the first one that differs."""
    first = runs[0]
    expected = merge_settings(first.config)
    for run in runs[1:]:
        found = merge_settings(run.config)
        for name, value in expected.items():
            if found.get(name) != value:
                raise UserError(
                    f"{run.path} and {first.path} are not compatible: --{name.replace('_', '-')} "
                    f"is {_shown(found.get(name), run.config, name)} in one, "
                    f"{_shown(value, first.config, name)} in the other"
                )
    return expected


def _shown(value: Any, config: dict[str, Any], name: str) -> str:
    """A setting as the user gave it (a grid file's path, not its digest)."""
    shown = config.get(name) if name in GRID_FILES else value
    return json.dumps(shown) if not isinstance(shown, str) else shown


def unique_workers(runs: Sequence[SourceRun]) -> None:
    """Give runs whose worker names collide (directories of one name) a numbered suffix, in the
    order of their resolved paths, so merged ids stay unique whatever the argument order."""
    by_name: dict[str, list[SourceRun]] = {}
    for run in runs:
        by_name.setdefault(run.worker, []).append(run)
    taken = set(by_name)
    for name, group in sorted(by_name.items()):
        if len(group) > 1:
            number = 0
            for run in sorted(group, key=lambda r: str(r.path.resolve())):
                number += 1
                while f"{name}-{number}" in taken:  # a directory already named so
                    number += 1
                run.worker = f"{name}-{number}"
                taken.add(run.worker)
