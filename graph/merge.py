"""CLI: ``python -m graph.merge RUN_DIR... --out DIR``: one dataset from several workers' runs.

Cross-run duplicates are dropped by the critic's rule (``graph.merges.twins``) into
``dropped.jsonl``; every kept item carries its provenance; pairs and rejections come along. The
output is a directory like a run's (``dataset.jsonl``, ``pairs.jsonl``, ``rejected.jsonl``,
``config.json``, ``stats.json``) plus ``merge.json``, ``metrics.json`` and ``report.html``, so
``graph.export`` and ``graph.report`` read it as they read a run. It is written into a temporary
sibling and renamed into place: an error never leaves half a merge, nor touches an input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents.errors import UserError
from graph.cli import EXIT_OK, OneLineParser, run_command
from graph.context import DEFAULT_DUPLICATE_THRESHOLD
from graph.merges.dataset import (
    carried_pairs,
    carried_rejections,
    dropped_row,
    entries,
    merge_order,
    merge_record,
    merged_item,
    merged_stats,
    sort_runs,
)
from graph.merges.progress import MergeProgress
from graph.merges.sources import (
    MERGE_RECORD,
    SourceRun,
    check_compatible,
    check_distinct,
    check_same_writers,
    read_run,
    unique_workers,
)
from graph.merges.twins import RememberedEmbeddings, find_twins
from graph.report import METRICS_FILE, REPORT_FILE
from graph.runtime.rundir import CONFIG, DATASET, PAIRS, REJECTED, STATS

DROPPED = "dropped.jsonl"


def build_parser() -> argparse.ArgumentParser:
    """The merge's flags."""
    parser = OneLineParser(
        prog="python -m graph.merge",
        description="Merge several runs (e.g. workers sharing a --memory-namespace) into one "
        "dataset: cross-run duplicates dropped by the critic's rule, provenance kept per item.",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new directory")
    parser.add_argument(
        "--force", action="store_true", help="replace --out if it holds an earlier merge"
    )
    parser.add_argument(
        "--no-report", dest="report", action="store_false", help="skip metrics.json and report.html"
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors and the summary")
    return parser


def check_out(out: Path, runs: Sequence[Path], force: bool) -> None:
    """Refuse an ``--out`` that is, holds or sits inside an input, or would replace anything but
    an empty directory (or, with ``--force``, an earlier merge)."""
    target = out.resolve()
    for run in runs:
        if target == run.resolve():
            raise UserError(f"--out {out} is one of the input runs; choose a new directory")
        if target.is_relative_to(run.resolve()):
            raise UserError(f"--out {out} is inside the input run {run}; choose a new directory")
        if run.resolve().is_relative_to(target):
            raise UserError(f"--out {out} would replace the input run {run}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    if not (out / MERGE_RECORD).is_file():
        raise UserError(
            f"--out {out} is not empty and holds no earlier merge; choose a new directory"
        )
    if not force:
        raise UserError(f"--out {out} holds an earlier merge; replace it with --force")


def main(argv: list[str] | None = None) -> int:
    """Entry point: read and check every input first, then write; one ``error:`` line and exit 2."""
    return run_command(lambda: _merge(argv))


def _merge(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check_distinct(args.runs)
    check_out(args.out, args.runs, args.force)
    runs = [read_run(path) for path in args.runs]
    check_same_writers(runs)
    settings = check_compatible(runs)
    unique_workers(runs)
    runs = sort_runs(runs)
    if not any(run.items for run in runs):
        raise UserError("nothing to write: the runs hold no accepted item")
    embeddings = RememberedEmbeddings(_embeddings(runs[0].config))
    slots = merge_order(runs)
    threshold = float(settings["duplicate_threshold"] or DEFAULT_DUPLICATE_THRESHOLD)
    with MergeProgress(len(slots), quiet=args.quiet) as progress, _embedding_errors(runs[0]):
        twins = find_twins(
            entries(slots), _chroma_client(), embeddings, threshold, on_batch=progress.advance
        )
    kept = [slot for position, slot in enumerate(slots) if position not in twins]
    dropped = [
        dropped_row(slots[position], slots[twin.kept], twin, runs)
        for position, twin in sorted(twins.items())
    ]
    files = {
        DATASET: _jsonl(merged_item(slot, runs[slot.run]) for slot in kept),
        DROPPED: _jsonl(dropped),
        PAIRS: _jsonl(carried_pairs(kept, runs)),
        REJECTED: _jsonl(carried_rejections(runs)),
        CONFIG: _json(shared_config(runs, args.out)),
        STATS: _json(merged_stats(runs, kept, dropped)),
        MERGE_RECORD: _json(merge_record(runs, settings, args.out)),
    }
    with _embedding_errors(runs[0]):
        write_merge(args.out, files, embeddings if args.report else None)
    print(
        f"merge: {args.out} ({len(runs)} runs, {len(slots)} items in, {len(kept)} kept, "
        f"{len(dropped)} dropped as cross-run duplicates)",
        flush=True,
    )
    return EXIT_OK


def shared_config(runs: Sequence[SourceRun], out: Path) -> dict[str, Any]:
    """``config.json``: the parameters every run shares (what differs is in ``merge.json``)."""
    first = runs[0].config
    same = {
        key: value
        for key, value in first.items()
        if all(run.config.get(key) == value for run in runs[1:])
    }
    return same | {"out": str(out)}


def write_merge(out: Path, files: dict[str, str], embeddings: Any) -> None:
    """Write the files (and the report, given ``embeddings``) into a temporary sibling of
    ``out``, then rename it into place; a failure leaves ``out`` as it was."""
    parent = out.absolute().parent
    temporary, old = parent / f".{out.name}.merge-tmp", parent / f".{out.name}.merge-old"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        for name, text in files.items():
            (temporary / name).write_text(text, encoding="utf-8")
        if embeddings is not None:
            _write_report(temporary, out, embeddings)
        if out.exists():  # an empty directory, or an earlier merge given --force
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
        os.replace(temporary, out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _write_report(directory: Path, out: Path, embeddings: Any) -> None:
    """``metrics.json`` and ``report.html`` of the merged dataset, as ``graph.report`` writes them."""
    from graph.measure.html import build_html
    from graph.measure.metrics import run_metrics

    metrics = run_metrics(directory, embeddings) | {"run_dir": str(out), "name": out.name}
    (directory / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (directory / REPORT_FILE).write_text(build_html([metrics]), encoding="utf-8")


def _embeddings(config: dict[str, Any]) -> Any:
    """The embedding model the runs used (their ``config.json``)."""
    from graph.context import RunConfig
    from memory.embeddings import EmbeddingModelMissing, embeddings_for

    fields = ("embedding_provider", "embedding_model", "embedding_base_url", "base_url")
    settings = {name: config[name] for name in fields if config.get(name) is not None}
    settings["api_key_env"] = config.get("api_key_env") or "OPENAI_API_KEY"
    try:
        return embeddings_for(RunConfig.model_construct(**settings))
    except EmbeddingModelMissing as exc:
        raise UserError(str(exc)) from None


@contextmanager
def _embedding_errors(run: SourceRun) -> Iterator[None]:
    """An embedding endpoint that fails (down, refused key) is the user's one line, not a trace."""
    import openai

    try:
        yield
    except (openai.APIConnectionError, openai.APIStatusError) as exc:
        url = run.config.get("embedding_base_url") or run.config.get("base_url")
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"the runs' embedding endpoint {url} failed: {reason}") from None


def _chroma_client() -> Any:
    """An in-process Chroma client for the twin search (nothing is written to disk)."""
    import chromadb
    from chromadb.config import Settings

    return chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))


def _jsonl(rows: Any) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
