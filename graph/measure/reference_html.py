"""The report's section on a reference benchmark: recall per reference category, one column and
one colour per run, as a table and a bar chart (present only when the runs were measured with
``--reference``)."""

from __future__ import annotations

import html
from itertools import cycle
from typing import Any

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from graph.measure.figures import COLORS, DPI, image_section, png_data_uri, run_label, short_label

FIGURE_WIDTH = 8.0
BAR_HEIGHT_INCHES = 0.22
MIN_FIGURE_HEIGHT = 3.0
PERCENT = 100


def _categories(runs: list[dict[str, Any]]) -> list[str]:
    """The reference's categories, largest first (the same reference for every run)."""
    return list(dict.fromkeys(c for m in runs for c in m["reference"]["categories"]))


def _coverage_cell(entry: dict[str, Any]) -> str:
    """``covered/total (recall %)`` for a table cell."""
    return f"{entry['covered']}/{entry['total']} ({PERCENT * entry['recall']:.1f}%)"


def recall_table(runs: list[dict[str, Any]]) -> str:
    """HTML table: one row per reference category and one for all prompts, one column per run."""
    head = "".join(
        f'<th style="color:{to_hex(color)}">{html.escape(run_label(m))}</th>'
        for color, m in zip(cycle(COLORS), runs)
    )
    rows = [
        f"<tr><td>{html.escape(category)}</td>"
        + "".join(
            f"<td>{_coverage_cell(m['reference']['categories'][category])}</td>" for m in runs
        )
        + "</tr>"
        for category in _categories(runs)
    ]
    rows.append(
        "<tr><th>all prompts</th>"
        + "".join(f"<th>{_coverage_cell(m['reference'])}</th>" for m in runs)
        + "</tr>"
    )
    return f"<table><tr><th>reference category</th>{head}</tr>{''.join(rows)}</table>"


def plot_recall(runs: list[dict[str, Any]]) -> str:
    """Recall per reference category, one bar per run; dashed: a run's overall recall."""
    categories = _categories(runs)
    height = max(MIN_FIGURE_HEIGHT, BAR_HEIGHT_INCHES * len(categories) * len(runs) + 1.5)
    figure = Figure(figsize=(FIGURE_WIDTH, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(runs)
    for offset, (color, metrics) in enumerate(zip(cycle(COLORS), runs)):
        found = metrics["reference"]["categories"]
        recalls = [found[category]["recall"] for category in categories]
        positions = [row - 0.4 + (offset + 0.5) * width for row in range(len(categories))]
        axes.barh(positions, recalls, height=width, color=color, label=run_label(metrics))
        axes.axvline(metrics["reference"]["recall"], color=color, linestyle="--", lw=1)
    axes.set_yticks(range(len(categories)), [short_label(c) for c in categories])
    axes.invert_yaxis()
    threshold = runs[0]["reference"]["threshold"]
    xlabel = f"reference prompts covered (cosine >= {threshold:g} to a generated prompt)"
    axes.set(title="Coverage of the reference", xlabel=xlabel, xlim=(0, 1))
    axes.grid(alpha=0.3, axis="x")
    axes.legend(loc="lower right")
    return png_data_uri(figure)


def reference_section(runs: list[dict[str, Any]]) -> str:
    """The reference section as HTML ("" when no run was measured against a reference)."""
    measured = [metrics for metrics in runs if "reference" in metrics]
    if not measured:
        return ""
    first = measured[0]["reference"]
    about = (
        f"{html.escape(first['source'])}: {first['total']} prompts (column "
        f"{html.escape(first['text_column'])}), categories from column "
        f"{html.escape(first['label_column'])}; a prompt is covered when a generated prompt "
        f"has cosine similarity &gt;= {first['threshold']:g} to it ({html.escape(measured[0]['embeddings'])})."
    )
    return (
        f"<h2>Coverage of a reference benchmark</h2><p>{about}</p>{recall_table(measured)}"
        + image_section("Recall per reference category", plot_recall(measured))
    )
