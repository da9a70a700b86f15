"""A run's ``dataset.jsonl`` as fine-tuning data in TRL's conversational formats (SFT chat records or
DPO preference pairs), written as JSON lines, one Parquet file or a Hugging Face ``datasets`` folder."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.errors import UserError
from agents.schemas import AcceptedItem, PreferencePair
from graph.runtime.rundir import DATASET, RUN_MARKERS
from memory.store import normalized_text

FORMATS = ("jsonl", "parquet", "hf")
KINDS = ("sft", "preference")
EXPORT_DIR = "export"
HF_MARKERS = ("state.json", "dataset_info.json")  # files every ``save_to_disk`` folder holds
# Rejections that judged the *response* unsafe: only these may serve as DPO's "rejected" reply.
UNSAFE_REASONS = ("format:response_complies", "format:response_not_safe", "llm_rejected")
NO_PAIRS_NOTE = (
    "note: 0 preference pairs: this run made none on purpose (it ran with --no-preference-pairs, "
    "on the embedded model, or before pairs existed: run with --preference-pairs) and holds no "
    "unsafe response to an accepted prompt ({unsafe} rejected as unsafe, none for an accepted one)"
)
GRID_FIELDS = ("hazard", "safety_issue", "tactic", "kind")
SFT_FIELDS = ("id", *GRID_FIELDS, "round", "strategy")  # after "messages"
PREFERENCE_FIELDS = ("id", *GRID_FIELDS)
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected", "pair_type", *PREFERENCE_FIELDS)
Row = TypeVar("Row", bound=BaseModel)


class _Draft(BaseModel):
    """The part of a rejected candidate a preference pair needs."""

    prompt: str
    response: str


class Rejection(BaseModel):
    """What the export reads of a ``rejected.jsonl`` line (lenient on fields it does not use)."""

    candidate: _Draft | None
    reason: str


def read_rows(path: Path, schema: type[Row]) -> list[Row]:
    """Every line of a JSONL file validated against ``schema``; a bad line is a ``UserError``."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(schema.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            partial = " (an unfinished last line: wait for the run, or --resume it)"
            hint = partial if number == len(lines) else ""
            detail = f"{field}: {error['msg']}" if field else error["msg"]
            raise UserError(f"{path}:{number} is corrupted ({detail}){hint}") from None
    return rows


def read_dataset(run_dir: Path) -> list[AcceptedItem]:
    """The accepted items of a run, in file order."""
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} does not exist or is not a directory")
    if not (run_dir / DATASET).is_file():
        raise UserError(f"{run_dir} holds no {DATASET}; is it a run directory?")
    return read_rows(run_dir / DATASET, AcceptedItem)


def _chat(role: str, content: str) -> list[dict[str, str]]:
    """A conversation of one chat message."""
    return [{"role": role, "content": content}]


def sft_records(items: list[AcceptedItem]) -> list[dict[str, Any]]:
    """SFT chat records: the prompt as the user turn, the safe response as the assistant turn."""
    return [
        {"messages": _chat("user", item.prompt) + _chat("assistant", item.response)}
        | item.model_dump(include=set(SFT_FIELDS))
        for item in items
    ]


def unsafe_alternatives(rejected: list[Rejection]) -> dict[str, list[str]]:
    """Responses rejected as unsafe, by normalized prompt, in file order."""
    found: dict[str, list[str]] = {}
    for row in rejected:
        if row.candidate is not None and row.reason in UNSAFE_REASONS:
            found.setdefault(normalized_text(row.candidate.prompt), []).append(
                row.candidate.response
            )
    return found


def preference_records(
    items: list[AcceptedItem],
    alternatives: dict[str, list[str]],
    pairs: Sequence[PreferencePair] = (),
) -> list[dict[str, Any]]:
    """DPO pairs, one per accepted item that has a rejected reply: the one the run made for it
    (``pairs.jsonl``), else the first response the critic rejected as unsafe for the same
    prompt (``pair_type`` ``unsafe``)."""
    made = {pair.id: pair for pair in pairs}
    records = []
    for item in items:
        rejected, pair_type = _rejected_reply(item, made.get(item.id), alternatives)
        if rejected:
            user, safe = _chat("user", item.prompt), _chat("assistant", item.response)
            pair: dict[str, Any] = {"prompt": user, "chosen": safe}
            pair |= {"rejected": _chat("assistant", rejected), "pair_type": pair_type}
            records.append(pair | item.model_dump(include=set(PREFERENCE_FIELDS)))
    return records


def _rejected_reply(
    item: AcceptedItem, made: PreferencePair | None, alternatives: dict[str, list[str]]
) -> tuple[str, str]:
    """An item's rejected reply and its pair type, or ``("", "")``."""
    if made is not None and normalized_text(made.rejected) != normalized_text(item.response):
        return made.rejected, made.pair_type
    for text in alternatives.get(normalized_text(item.prompt), []):
        if normalized_text(text) != normalized_text(item.response):
            return text, "unsafe"
    return "", ""


def _datasets() -> Any:
    """The ``datasets`` library, imported on demand (slow to import), progress bars off."""
    try:
        import datasets
    except ImportError:
        raise UserError("--format parquet/hf needs datasets: pip install datasets") from None
    datasets.disable_progress_bars()
    return datasets


def to_dataset(records: list[dict[str, Any]], kind: str) -> Any:
    """A ``datasets.Dataset`` of the records with explicit features (so an empty one has columns)."""
    datasets = _datasets()
    text = datasets.Value("string")
    turns = datasets.List({"role": text, "content": text})
    types = {"messages": turns, "prompt": turns, "chosen": turns, "rejected": turns}
    types |= {name: text for name in ("id", *GRID_FIELDS, "strategy", "pair_type")}
    types |= {"round": datasets.Value("int64")}
    names = ("messages", *SFT_FIELDS) if kind == "sft" else PREFERENCE_COLUMNS
    features = datasets.Features({name: types[name] for name in names})
    data = {name: [record[name] for record in records] for name in names}
    return datasets.Dataset.from_dict(data, features=features)


def check_out(out: Path, run_dir: Path, fmt: str) -> None:
    """Refuse an ``--out`` that could replace anything but a previous export of this format."""
    target, run = out.resolve(), run_dir.resolve()
    if run.is_relative_to(target):
        raise UserError(f"--out {out} would replace the run directory")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    if not out.exists():
        return
    outside_export = target.is_relative_to(run) and not target.is_relative_to(run / EXPORT_DIR)
    if outside_export or any((target.parent / name).exists() for name in RUN_MARKERS):
        raise UserError(f"--out {out} is a file of a run, not an export; choose a new path")
    previous = (
        out.is_dir() and all((out / name).is_file() for name in HF_MARKERS)
        if fmt == "hf"
        else out.is_file() and out.suffix == f".{fmt}"
    )
    if not previous:
        raise UserError(f"--out {out} exists and is not a previous {fmt} export; choose a new path")


def _remove(path: Path) -> None:
    """Delete a file or folder if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_export(records: list[dict[str, Any]], kind: str, fmt: str, out: Path) -> None:
    """Write to a temporary sibling, then rename over ``out``: a failure leaves ``out`` as it was."""
    temporary, old = out.with_name(f".{out.name}.tmp"), out.with_name(f".{out.name}.old")
    try:
        _remove(temporary)
        if fmt == "jsonl":
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        elif fmt == "parquet":
            to_dataset(records, kind).to_parquet(str(temporary))
        else:  # datasets writes no shard for an empty dataset unless asked, then cannot load it
            shards = None if records else 1
            to_dataset(records, kind).save_to_disk(str(temporary), num_shards=shards)
        if out.is_dir():  # a previous hf export: swap folders, since a rename cannot replace one
            _remove(old)
            os.replace(out, old)
        os.replace(temporary, out)
        _remove(old)
    except OSError as exc:
        _remove(temporary)
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
