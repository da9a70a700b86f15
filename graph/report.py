"""CLI: ``python -m graph.report RUN_DIR [RUN_DIR ...]``: ``metrics.json`` in each run directory and
one self-contained ``report.html`` comparing them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.errors import UserError
from graph.cli import EXIT_OK, OneLineParser, run_command
from graph.measure.html import build_html
from graph.measure.metrics import EmbeddingsLike, run_metrics
from graph.runtime.rundir import write_atomically
from memory.embeddings import EmbeddingModelMissing

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
REPORT_SUFFIXES = (".html", ".htm")


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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure every run first, then write; one ``error:`` line and exit 2 on bad input."""
    return run_command(lambda: _report(argv))


def _report(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = _report_path(args)
    embeddings = embeddings_named(args.embedding_provider)
    runs = [run_metrics(run_dir, embeddings) for run_dir in args.runs]
    page = build_html(runs)
    for run_dir, metrics in zip(args.runs, runs, strict=True):
        write_atomically(run_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    write_atomically(out, page)
    print(f"report: {out} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
