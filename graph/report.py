"""CLI: ``python -m graph.report RUN_DIR [RUN_DIR ...] [--reference FILE]``: ``metrics.json`` in
each run directory and one self-contained ``report.html`` comparing them; with ``--reference``,
also how much of a reference benchmark each run covers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.errors import UserError
from graph.cli import EXIT_OK, OneLineParser, run_command
from graph.measure.html import build_html
from graph.measure.metrics import EmbeddingsLike, embed_texts, run_metrics
from graph.measure.reference import (
    DEFAULT_LABEL_COLUMN,
    DEFAULT_TEXT_COLUMN,
    ReferenceSet,
    load_reference,
)
from graph.measure.reference_coverage import DEFAULT_COVERAGE_THRESHOLD, EmbeddedReference
from graph.runtime.rundir import write_atomically
from memory.embeddings import EmbeddingModelMissing

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
REPORT_SUFFIXES = (".html", ".htm")
# Flags that mean something only with --reference.
REFERENCE_FLAGS = ("reference_text", "reference_label", "coverage_threshold")


def build_parser() -> argparse.ArgumentParser:
    """The report's flags."""
    parser = OneLineParser(
        prog="python -m graph.report",
        description="Measure run directories (metrics.json in each) and compare them in one "
        "self-contained HTML report.",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help=f"report file (default: RUN_DIR/{REPORT_FILE})"
    )
    parser.add_argument(
        "--embedding-provider",
        choices=["embedded", "fake"],
        default="embedded",
        help="embedded all-MiniLM-L6-v2, or fake bag-of-words for tests (default: embedded)",
    )
    reference = parser.add_argument_group("coverage of a reference benchmark")
    reference.add_argument(
        "--reference",
        type=Path,
        metavar="FILE",
        help="prompts with a category column: JSONL, CSV or a Hugging Face datasets folder",
    )
    reference.add_argument(
        "--reference-text",
        metavar="COLUMN",
        help=f"the reference's prompt column (default: {DEFAULT_TEXT_COLUMN})",
    )
    reference.add_argument(
        "--reference-label",
        metavar="COLUMN",
        help=f"the reference's category column (default: {DEFAULT_LABEL_COLUMN})",
    )
    reference.add_argument(
        "--coverage-threshold",
        type=coverage_threshold,
        metavar="COSINE",
        help="a reference prompt is covered by a generated prompt at this cosine or above, "
        f"in (0, 1] (default: {DEFAULT_COVERAGE_THRESHOLD}, for all-MiniLM-L6-v2)",
    )
    return parser


def coverage_threshold(text: str) -> float:
    """``--coverage-threshold``: a cosine in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def embeddings_named(provider: str) -> EmbeddingsLike:
    """The embedding model to measure prompts and issue names with."""
    from memory.embeddings import BagOfWordsEmbeddings, embedded_minilm

    try:
        return BagOfWordsEmbeddings() if provider == "fake" else embedded_minilm()
    except EmbeddingModelMissing as exc:
        raise UserError(str(exc)) from None


def _report_path(args: argparse.Namespace) -> Path:
    """Where the report goes; refuse an ``--out`` that is no HTML file or has no directory."""
    if args.out is None:  # the first run directory, checked with the run
        return args.runs[0] / REPORT_FILE
    out = args.out
    if out.suffix.lower() not in REPORT_SUFFIXES:
        raise UserError(f"--out {out} must end in .html")
    if out.is_dir() or not out.parent.is_dir():
        raise UserError(f"--out {out} is a directory or its directory does not exist")
    return out


def _reference(args: argparse.Namespace) -> ReferenceSet | None:
    """The ``--reference`` file, read before any model loads (None without the flag)."""
    if args.reference is None:
        given = [flag for flag in REFERENCE_FLAGS if getattr(args, flag) is not None]
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} needs --reference FILE")
        return None
    return load_reference(
        args.reference,
        args.reference_text or DEFAULT_TEXT_COLUMN,
        args.reference_label or DEFAULT_LABEL_COLUMN,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure every run first, then write; one ``error:`` line and exit 2 on bad input."""
    return run_command(lambda: _report(argv))


def _report(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = _report_path(args)
    reference_set = _reference(args)
    embeddings = embeddings_named(args.embedding_provider)
    reference = (  # embedded once for every run
        EmbeddedReference(reference_set, embed_texts(reference_set.texts, embeddings))
        if reference_set
        else None
    )
    threshold = args.coverage_threshold or DEFAULT_COVERAGE_THRESHOLD
    runs = [run_metrics(run_dir, embeddings, reference, threshold) for run_dir in args.runs]
    page = build_html(runs)
    for run_dir, metrics in zip(args.runs, runs, strict=True):
        write_atomically(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    write_atomically(out, page)
    print(f"report: {out} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
