"""Pictures of the grid for the HTML report: items per (hazard x tactic) cell as one heatmap per
run on one colour scale, the difference of exactly two runs, and the benign share per hazard.

Runs written before the grid (no hazard or tactic on their items) get a note instead of a picture.
"""

from __future__ import annotations

from collections import Counter
from itertools import cycle
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from graph.measure.figures import (
    COLORS,
    DPI,
    image_section,
    note,
    png_data_uri,
    run_label,
    short_label,
)

# Inches per heatmap column (tactic) and row (hazard), and the room for the axis labels.
CELL_WIDTH, CELL_HEIGHT = 0.42, 0.36
HAZARD_LABEL_INCHES, TACTIC_LABEL_INCHES, TITLE_INCHES = 2.6, 2.2, 0.5
COLORBAR_INCHES = 1.2
MIN_FIGURE_WIDTH = 6.0
# Tactic names are long ("incremental decomposition (step-by-step)"): cut, then rotated.
TACTIC_LABEL_CHARS, TACTIC_LABEL_ROTATION = 32, 60
HAZARD_LABEL_CHARS = 34
COUNT_COLORMAP, DIFFERENCE_COLORMAP = "Blues", "RdBu_r"
# Annotations turn white on cells darker than this share of the colour scale.
DARK_CELL_SHARE = 0.6
BAR_HEIGHT_INCHES = 0.22
BENIGN_FIGURE_WIDTH = 8.0


def runs_with_grid(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The runs whose items have (hazard, tactic) cells, and a note for each run without."""
    with_grid = [metrics for metrics in runs if metrics.get("items_per_cell")]
    notes = [
        f"{run_label(m)}: no item has both a hazard and a tactic (a run written before the grid, "
        "or by a strategy that does not name them), so it has no heatmap."
        for m in runs
        if not m.get("items_per_cell")
    ]
    return with_grid, notes


def grid_axes(runs: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Hazards and tactics of all runs, each with the most items over the runs first."""
    hazards, tactics = Counter[str](), Counter[str]()
    for metrics in runs:
        for hazard, row in metrics["items_per_cell"].items():
            for tactic, count in row.items():
                hazards[hazard] += count
                tactics[tactic] += count
    return [h for h, _ in hazards.most_common()], [t for t, _ in tactics.most_common()]


def cell_counts(metrics: dict[str, Any], hazards: list[str], tactics: list[str]) -> np.ndarray:
    """A run's items per cell as a (hazards x tactics) matrix."""
    cells = metrics["items_per_cell"]
    return np.array([[cells.get(h, {}).get(t, 0) for t in tactics] for h in hazards], dtype=int)


def _heatmap_figure(rows: int, hazards: int, tactics: int) -> tuple[Figure, list[Any]]:
    """A figure of ``rows`` heatmaps stacked (tactic columns line up), sized to stay readable."""
    width = max(MIN_FIGURE_WIDTH, HAZARD_LABEL_INCHES + CELL_WIDTH * tactics + COLORBAR_INCHES)
    one = TITLE_INCHES + CELL_HEIGHT * hazards
    height = rows * one + TACTIC_LABEL_INCHES
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, list(axes)


def _draw_cells(axes: Any, values: np.ndarray, colormap: str, low: float, high: float) -> Any:
    """One heatmap on ``axes``, non-zero cells annotated with their value."""
    image = axes.imshow(values, cmap=colormap, vmin=low, vmax=high, aspect="auto")
    span = high - low or 1.0
    for (row, column), value in np.ndenumerate(values):
        if value:
            shade = abs(value - (low + high) / 2) * 2 / span if low < 0 else (value - low) / span
            color = "white" if shade > DARK_CELL_SHARE else "black"
            axes.text(column, row, str(value), ha="center", va="center", fontsize=8, color=color)
    return image


def _label_axes(axes: Any, hazards: list[str], tactics: list[str], bottom: bool) -> None:
    """Hazard names on the left; tactic names, cut and rotated, under the bottom heatmap."""
    axes.set_yticks(range(len(hazards)), [short_label(h, HAZARD_LABEL_CHARS) for h in hazards])
    axes.set_xticks(range(len(tactics)))
    if bottom:
        labels = [short_label(t, TACTIC_LABEL_CHARS) for t in tactics]
        axes.set_xticklabels(
            labels, rotation=TACTIC_LABEL_ROTATION, ha="right", rotation_mode="anchor"
        )
        axes.set_xlabel("tactic")
    axes.set_ylabel("hazard")


def cell_heatmaps_figure(runs: list[dict[str, Any]]) -> Figure:
    """Items per (hazard x tactic) cell, one heatmap per run, all on one colour scale."""
    hazards, tactics = grid_axes(runs)
    matrices = [cell_counts(metrics, hazards, tactics) for metrics in runs]
    highest = max(int(matrix.max()) for matrix in matrices) or 1
    figure, axes_list = _heatmap_figure(len(runs), len(hazards), len(tactics))
    for index, (axes, metrics, matrix) in enumerate(zip(axes_list, runs, matrices, strict=True)):
        image = _draw_cells(axes, matrix, COUNT_COLORMAP, 0, highest)
        cells = int((matrix > 0).sum())
        axes.set_title(f"{run_label(metrics)}: {cells} of {matrix.size} cells hold items")
        _label_axes(axes, hazards, tactics, bottom=index == len(runs) - 1)
    figure.colorbar(image, ax=axes_list, label="items")
    return figure


def cell_difference_figure(first: dict[str, Any], second: dict[str, Any]) -> Figure:
    """Items per cell of the second run minus the first's (red: the second has more)."""
    hazards, tactics = grid_axes([first, second])
    difference = cell_counts(second, hazards, tactics) - cell_counts(first, hazards, tactics)
    largest = int(np.abs(difference).max()) or 1
    figure, (axes,) = _heatmap_figure(1, len(hazards), len(tactics))
    image = _draw_cells(axes, difference, DIFFERENCE_COLORMAP, -largest, largest)
    axes.set_title(
        f"items of {short_label(run_label(second))} minus {short_label(run_label(first))}"
    )
    _label_axes(axes, hazards, tactics, bottom=True)
    figure.colorbar(image, ax=axes, label="difference")
    return figure


def benign_share_figure(runs: list[dict[str, Any]]) -> Figure:
    """Share of benign look-alikes per hazard, one bar per run; dashed: a run's overall share."""
    hazards = list(dict.fromkeys(h for m in runs for h in m["benign_share_per_hazard"]))
    bars = len(hazards) * len(runs)
    height = max(3.0, BAR_HEIGHT_INCHES * bars + 1.5)
    figure = Figure(figsize=(BENIGN_FIGURE_WIDTH, height), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(runs)
    for offset, (color, metrics) in enumerate(zip(cycle(COLORS), runs)):
        shares = [metrics["benign_share_per_hazard"].get(h, 0.0) for h in hazards]
        positions = [row - 0.4 + (offset + 0.5) * width for row in range(len(hazards))]
        axes.barh(positions, shares, height=width, color=color, label=run_label(metrics))
        axes.axvline(metrics["benign_share"], color=color, linestyle="--", lw=1)
    axes.set_yticks(range(len(hazards)), [short_label(h, HAZARD_LABEL_CHARS) for h in hazards])
    axes.invert_yaxis()
    axes.set(title="Benign share per hazard", xlabel="benign look-alikes / items", xlim=(0, 1))
    axes.grid(alpha=0.3, axis="x")
    axes.legend(loc="lower right")
    return figure


def grid_section(runs: list[dict[str, Any]]) -> str:
    """The report's grid pictures as HTML, with notes for the runs that cannot have them."""
    shown, notes = runs_with_grid(runs)
    parts = [note(text) for text in notes]
    if shown:
        figures = [("Items per (hazard x tactic) cell", cell_heatmaps_figure(shown))]
        if len(shown) == 2:
            figures.append(
                ("Difference per (hazard x tactic) cell", cell_difference_figure(*shown))
            )
        figures.append(("Benign share per hazard", benign_share_figure(shown)))
        parts += [image_section(title, png_data_uri(figure)) for title, figure in figures]
    return "".join(parts)
