"""The HTML report: one self-contained page (PNG plots as data URIs, a metrics table; one colour
per run) from the metrics of one or more runs."""

from __future__ import annotations

import html
from collections import Counter
from itertools import cycle
from typing import Any

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from graph.measure.figures import COLORS, DPI, image_section, png_data_uri, run_label, short_label
from graph.measure.grid_plots import grid_section
from graph.measure.reference_html import reference_section
from graph.runtime.costs import format_usd

TOP_ISSUES = 30
HISTOGRAM_BINS = 20
FIGURE_WIDTH, FIGURE_HEIGHT = 8.0, 4.5
BAR_ROW_INCHES = 0.28
LINE_WIDTH = 1.5
TABLE_ROWS = (
    ("strategy", "strategy"),
    ("accepted items", "accepted"),
    ("rounds", "rounds"),
    ("acceptance rate", "acceptance_rate"),
    ("rejected lines", "rejected"),
    ("distinct issues (merged)", "distinct_issues"),
    ("issue labels (as written)", "issue_labels"),
    ("issue balance (entropy, 0-1)", "issue_balance"),
    ("hazards covered", "hazards_covered"),
    ("tactics covered", "tactics_covered"),
    ("(hazard x tactic x kind) cells covered", "cells_covered"),
    ("benign share", "benign_share"),
    ("Vendi score", "vendi_score"),
    ("mean pairwise cosine distance", "mean_pairwise_cosine_distance"),
    ("near-duplicate rate", "near_duplicate_rate"),
    ("duplicate threshold", "duplicate_threshold"),
    ("issue merge threshold", "issue_merge_threshold"),
    ("LLM calls per item", "llm_calls_per_item"),
    ("tokens per item", "tokens_per_item"),
    ("seconds per item", "seconds_per_item"),
    ("cost (USD)", "cost_usd"),
    ("cost per accepted item (USD)", "cost_per_item_usd"),
    ("cost per round (USD)", "cost_per_round_usd"),
    ("stop reason", "stop_reason"),
    ("embeddings", "embeddings"),
)


def _axes(
    title: str, xlabel: str, ylabel: str, counts_on: str = "y", height: float = FIGURE_HEIGHT
) -> Any:
    """A fresh figure's axes with title, labels, a light grid and integer counts on the count axis."""
    axes = Figure(figsize=(FIGURE_WIDTH, height), dpi=DPI).add_subplot()
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    for name in counts_on:  # axes that count items get integer ticks
        getattr(axes, f"{name}axis").set_major_locator(MaxNLocator(integer=True))
    return axes


def _png_data_uri(axes: Any) -> str:
    """Render the axes' figure with the Agg backend as a base64 PNG data URI."""
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    axes.figure.tight_layout()
    return png_data_uri(axes.figure)


def plot_coverage(runs: list[dict[str, Any]]) -> str:
    """Distinct issues against accepted items, one line per run."""
    axes = _axes("Issue coverage", "accepted items", "distinct issues", counts_on="xy")
    for index, (color, metrics) in enumerate(zip(cycle(COLORS), runs)):
        accepted, distinct = zip(*metrics["issue_growth"], strict=True)
        width = LINE_WIDTH + LINE_WIDTH * (len(runs) - 1 - index)  # equal curves stay visible
        label = run_label(metrics)
        axes.step([0, *accepted], [0, *distinct], where="post", color=color, lw=width, label=label)
    return _png_data_uri(axes)


def _top_categories(runs: list[dict[str, Any]], key: str, limit: int | None = None) -> list[str]:
    """Keys of a per-run count dict, largest total over the runs first."""
    totals: Counter[str] = Counter()
    for metrics in runs:
        totals.update(metrics[key])
    return [name for name, _ in totals.most_common(limit)]


def _grouped_barh(
    title: str, xlabel: str, runs: list[dict[str, Any]], key: str, limit: int | None = None
) -> str:
    """Horizontal bars of a per-run count dict: one row per key, one bar per run side by side."""
    categories = _top_categories(runs, key, limit)
    rows = len(categories) * max(1.0, len(runs) / 2)
    axes = _axes(
        title, xlabel, "", counts_on="x", height=max(FIGURE_HEIGHT, BAR_ROW_INCHES * rows + 1.5)
    )
    width = 0.8 / len(runs)
    for offset, (color, metrics) in enumerate(zip(cycle(COLORS), runs)):
        values = [metrics[key].get(category, 0) for category in categories]
        positions = [row - 0.4 + (offset + 0.5) * width for row in range(len(categories))]
        axes.barh(positions, values, height=width, color=color, label=run_label(metrics))
    axes.set_yticks(range(len(categories)), [short_label(c) for c in categories])
    axes.invert_yaxis()
    return _png_data_uri(axes if categories else _axes(title, xlabel, ""))


def plot_items_per_issue(runs: list[dict[str, Any]]) -> str:
    """Accepted items per (merged) issue, the ``TOP_ISSUES`` largest."""
    title = f"Items per issue (top {TOP_ISSUES})"
    return _grouped_barh(title, "accepted items", runs, "items_per_issue", TOP_ISSUES)


def plot_items_per_hazard(runs: list[dict[str, Any]]) -> str:
    """Accepted items per hazard category."""
    return _grouped_barh("Items per hazard", "accepted items", runs, "items_per_hazard")


def plot_items_per_tactic(runs: list[dict[str, Any]]) -> str:
    """Accepted items per tactic."""
    return _grouped_barh("Items per tactic", "accepted items", runs, "items_per_tactic")


def plot_rejections(runs: list[dict[str, Any]]) -> str:
    """Rejected candidates by reason."""
    return _grouped_barh("Rejections by reason", "rejected", runs, "rejections_by_reason")


def plot_nearest_neighbours(runs: list[dict[str, Any]]) -> str:
    """Histogram of each prompt's highest similarity to another accepted prompt."""
    xlabel = "cosine similarity to the nearest other prompt"
    axes = _axes("Nearest-neighbour similarity", xlabel, "prompts")
    lowest = min([0.0, *(s for m in runs for s in m["nearest_neighbor_similarities"])])
    bins = np.linspace(lowest, 1.0, HISTOGRAM_BINS + 1)
    shown = [(c, m) for c, m in zip(cycle(COLORS), runs) if m["nearest_neighbor_similarities"]]
    if shown:  # side by side per bin, one colour per run (runs of one prompt have none)
        colors, labels = [c for c, _ in shown], [run_label(m) for _, m in shown]
        values = [m["nearest_neighbor_similarities"] for _, m in shown]
        axes.hist(values, bins, color=colors, label=labels)
    for threshold in sorted({metrics["duplicate_threshold"] for metrics in runs}):
        label = f"duplicate threshold {threshold:.2f}"
        axes.axvline(threshold, color="black", linestyle="--", label=label)
    return _png_data_uri(axes)


def plot_cost(runs: list[dict[str, Any]]) -> str:
    """Dollars spent against accepted items, after every round, one line per priced run."""
    axes = _axes("Cost", "accepted items", "USD spent", counts_on="x")
    for color, metrics in zip(cycle(COLORS), runs):
        if curve := metrics.get("cost_curve"):
            accepted, dollars = zip(*([0, 0.0], *curve), strict=True)
            axes.plot(accepted, dollars, color=color, lw=LINE_WIDTH, label=run_label(metrics))
    return _png_data_uri(axes)


def _cell(value: Any, key: str = "") -> str:
    """A table cell's text (dollars as ``graph.runtime.costs.format_usd`` writes them)."""
    if key.startswith("cost"):
        return format_usd(value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def metrics_table(runs: list[dict[str, Any]]) -> str:
    """HTML table: one row per metric, one column per run."""
    head = "".join(
        f'<th style="color:{to_hex(color)}">{html.escape(run_label(m))}</th>'
        for color, m in zip(cycle(COLORS), runs)
    )
    body = "".join(
        f"<tr><td>{html.escape(title)}</td>"
        + "".join(f"<td>{html.escape(_cell(m.get(key), key))}</td>" for m in runs)
        + "</tr>"
        for title, key in TABLE_ROWS
    )
    return f"<table><tr><th>metric</th>{head}</tr>{body}</table>"


def build_html(runs: list[dict[str, Any]]) -> str:
    """The whole self-contained report page."""
    plots = [
        ("Issue coverage", plot_coverage(runs)),
        ("Items per issue", plot_items_per_issue(runs)),
        ("Items per hazard", plot_items_per_hazard(runs)),
        ("Items per tactic", plot_items_per_tactic(runs)),
        ("Nearest-neighbour similarity", plot_nearest_neighbours(runs)),
        ("Rejections by reason", plot_rejections(runs)),
    ]
    if any(m.get("cost_curve") for m in runs):  # a run without prices has no cost to draw
        plots.append(("Cost", plot_cost(runs)))
    sources = "".join(f"<li>{html.escape(m['run_dir'])}</li>" for m in runs)
    images = "".join(image_section(title, uri) for title, uri in plots)
    extra = grid_section(runs) + reference_section(runs)
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "td:not(:first-child){text-align:right}img{max-width:100%}.note{color:#555}"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Data Advisor report</title>'
        f"<style>{style}</style></head><body><h1>Data Advisor report</h1><ul>{sources}</ul>"
        f"<h2>Metrics</h2>{metrics_table(runs)}{images}{extra}</body></html>\n"
    )
