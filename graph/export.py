"""CLI: ``python -m graph.export RUN_DIR --format jsonl|parquet|hf [--out PATH] [--kind sft|preference]``:
a run's dataset as fine-tuning data (see ``graph.exports.records``)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from agents.errors import UserError
from agents.schemas import PreferencePair
from graph.cli import EXIT_OK, OneLineParser, run_command
from graph.exports.records import (
    EXPORT_DIR,
    FORMATS,
    KINDS,
    NO_PAIRS_NOTE,
    Rejection,
    check_out,
    preference_records,
    read_dataset,
    read_rows,
    sft_records,
    unsafe_alternatives,
    write_export,
)
from graph.runtime.rundir import PAIRS, REJECTED


def build_parser() -> argparse.ArgumentParser:
    """The export's flags."""
    parser = OneLineParser(
        prog="python -m graph.export",
        description="Export a run's dataset.jsonl for fine-tuning (TRL conversational format).",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--format", required=True, choices=FORMATS, help="output format")
    kinds = "sft: user/assistant chats (default); preference: prompt/chosen/rejected pairs"
    parser.add_argument("--kind", choices=KINDS, default="sft", help=kinds)
    out_help = f"output file, or folder for hf (default: RUN_DIR/{EXPORT_DIR}/<kind>.<ext>)"
    parser.add_argument("--out", type=Path, metavar="PATH", help=out_help)
    return parser


def default_out(run_dir: Path, fmt: str, kind: str) -> Path:
    """Where an export goes without ``--out``: ``sft.jsonl``, ``sft.parquet``, ``sft_hf/`` …"""
    return run_dir / EXPORT_DIR / (f"{kind}_hf" if fmt == "hf" else f"{kind}.{fmt}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: read and check everything first, then write; one ``error:`` line and exit 2."""
    return run_command(lambda: _export(argv))


def _export(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    items = read_dataset(args.run_dir)
    if args.kind == "sft":
        records, alternatives = sft_records(items), {}
    else:
        rejected_file = args.run_dir / REJECTED
        rejected = read_rows(rejected_file, Rejection) if rejected_file.exists() else []
        alternatives = unsafe_alternatives(rejected)
        pairs_file = args.run_dir / PAIRS
        pairs = read_rows(pairs_file, PreferencePair) if pairs_file.exists() else []
        records = preference_records(items, alternatives, pairs)
    out = args.out or default_out(args.run_dir, args.format, args.kind)
    if args.out is None:
        try:
            (args.run_dir / EXPORT_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot make {args.run_dir / EXPORT_DIR}: {exc.strerror or exc}"
            ) from None
    check_out(out, args.run_dir, args.format)
    write_export(records, args.kind, args.format, out)
    if args.kind == "preference" and not records:
        print(NO_PAIRS_NOTE.format(unsafe=sum(map(len, alternatives.values()))), file=sys.stderr)
    count = f"{len(records)} {'SFT record' if args.kind == 'sft' else 'preference pair'}"
    count += "" if len(records) == 1 else "s"
    if args.kind == "preference" and records:
        by_type = Counter(r["pair_type"] for r in records)
        count += (
            " of "
            + str(len(items))
            + " items: "
            + ", ".join(f"{n} {t}" for t, n in sorted(by_type.items()))
        )
    print(f"export: {out} ({count}, {args.format})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
