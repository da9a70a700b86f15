"""The grid in metrics.json and report.html: items per (hazard x tactic) cell, benign share per
hazard, heatmaps on one colour scale, the difference of two runs, notes for runs without a grid."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from PIL import Image

from graph.cli import EXIT_OK
from graph.measure.grid import benign_share_per_hazard, grid_metrics, items_per_cell
from graph.measure.grid_plots import (
    DIFFERENCE_COLORMAP,
    cell_counts,
    cell_difference_figure,
    cell_heatmaps_figure,
    grid_axes,
)
from graph.report import main

FAKE = ["--embedding-provider", "fake"]
LONG_TACTIC = "incremental decomposition (step-by-step) of a request into harmless parts"
# (hazard, tactic, kind, items) of run A; run B has other counts, and one run has no grid.
CELLS_A = [
    ("violent crimes", "direct request", "harmful", 3),
    ("violent crimes", LONG_TACTIC, "benign", 1),
    ("privacy", "hypothetical", "harmful", 2),
    ("privacy", "hypothetical", "benign", 2),
]
CELLS_B = [
    ("violent crimes", "direct request", "harmful", 1),
    ("hate", "hypothetical", "harmful", 5),
]
PNG_URI = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def grid_items(cells: list[tuple[str, str, str, int]]) -> list[dict]:
    """Accepted items with the given cells, each prompt different."""
    rows = [(h, t, k) for h, t, k, n in cells for _ in range(n)]
    return [
        {
            "id": f"r{i}",
            "prompt": f"request number w{i}a w{i}b w{i}c",
            "response": "No.",
            "safety_issue": f"issue {i}",
            "hazard": hazard,
            "tactic": tactic,
            "kind": kind,
            "round": 1,
        }
        for i, (hazard, tactic, kind) in enumerate(rows)
    ]


def write_run(path: Path, items: list[dict]) -> Path:
    """A minimal run directory holding the items."""
    path.mkdir(parents=True)
    (path / "dataset.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (path / "config.json").write_text(json.dumps({"strategy": "data-advisor"}))
    return path


def images(page: str) -> dict[str, Image.Image]:
    """The report's PNG images by their alt text."""
    return {
        alt: Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
        for alt, data in PNG_URI.findall(page)
    }


def test_items_per_cell_and_benign_share_per_hazard():
    items = grid_items(CELLS_A) + [
        {"prompt": "old", "safety_issue": "x"}
    ]  # written before the grid
    assert items_per_cell(items) == {
        "violent crimes": {"direct request": 3, LONG_TACTIC: 1},
        "privacy": {"hypothetical": 4},
    }
    assert benign_share_per_hazard(items) == {"violent crimes": 0.25, "privacy": 0.5}
    metrics = grid_metrics(items)
    assert metrics["cells_covered"] == 4 and metrics["items_per_hazard"]["(none)"] == 1


def test_runs_share_axes_ordered_by_items():
    runs = [grid_metrics(grid_items(CELLS_A)), grid_metrics(grid_items(CELLS_B))]
    hazards, tactics = grid_axes(runs)
    assert hazards == ["violent crimes", "hate", "privacy"]  # 5, 5 (tie: first seen), 4 items
    assert tactics == ["hypothetical", "direct request", LONG_TACTIC]  # 9, 4, 1 items
    assert cell_counts(runs[1], hazards, tactics).tolist() == [[0, 1, 0], [5, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("picture", ["heatmaps", "difference"])
def test_labels_stay_inside_the_picture(picture):
    """Long tactic names are cut and rotated: no text leaves the figure."""
    runs = [grid_metrics(grid_items(CELLS_A)), grid_metrics(grid_items(CELLS_B))]
    for metrics, name in zip(runs, ("a", "b"), strict=True):
        metrics.update(name=name, strategy="data-advisor")
    figure = cell_heatmaps_figure(runs) if picture == "heatmaps" else cell_difference_figure(*runs)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    box = figure.bbox
    labels = [t for t in figure.findobj(Text) if t.get_text() and t.get_visible()]
    assert any("…" in label.get_text() for label in labels)  # the long tactic was cut
    for label in labels:
        extent = label.get_window_extent(renderer)
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, label.get_text()
        assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, label.get_text()


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> tuple[Path, str]:
    """Two runs with a grid and one written before it, in one report."""
    root = tmp_path_factory.mktemp("grid")
    a = write_run(root / "a", grid_items(CELLS_A))
    b = write_run(root / "b", grid_items(CELLS_B))
    old = write_run(root / "old", [{"prompt": "p q r", "safety_issue": "x", "round": 1}])
    out = root / "report.html"
    assert main([str(a), str(b), str(old), "--out", str(out), *FAKE]) == EXIT_OK
    return root, out.read_text(encoding="utf-8")


def test_metrics_json_holds_the_cells(three_runs):
    root, _ = three_runs
    metrics = json.loads((root / "b" / "metrics.json").read_text())
    assert metrics["items_per_cell"] == {
        "hate": {"hypothetical": 5},
        "violent crimes": {"direct request": 1},
    }
    assert metrics["benign_share_per_hazard"] == {"hate": 0.0, "violent crimes": 0.0}
    assert json.loads((root / "old" / "metrics.json").read_text())["items_per_cell"] == {}


def test_report_draws_heatmaps_difference_and_benign_share_and_notes_the_old_run(three_runs):
    _, page = three_runs
    found = images(page)
    heatmap = found["Items per (hazard x tactic) cell"]
    difference = found["Difference per (hazard x tactic) cell"]
    assert "Benign share per hazard" in found
    assert "old (data-advisor): no item has both a hazard and a tactic" in page
    # The fullest cell (b: hate x hypothetical, 5 items) is drawn in the darkest blue.
    darkest = np.array([8, 48, 107])  # the top of matplotlib's "Blues"
    pixels = np.asarray(heatmap)
    assert (np.abs(pixels - darkest).max(axis=2) < 25).sum() > 200
    # b minus a on a scale of -5..5: hate +5 (darkest red), privacy -4 (dark blue).
    diff = np.asarray(difference).astype(int)
    for value in (5, -4):
        color = np.array(colormaps[DIFFERENCE_COLORMAP]((value + 5) / 10)[:3]) * 255
        assert (np.abs(diff - color).max(axis=2) < 25).sum() > 200, value


def test_one_run_without_a_grid_gets_only_a_note(tmp_path):
    old = write_run(tmp_path / "old", [{"prompt": "p q r", "safety_issue": "x", "round": 1}])
    assert main([str(old), *FAKE]) == EXIT_OK
    page = (old / "report.html").read_text(encoding="utf-8")
    assert "no heatmap" in page and "Items per (hazard x tactic) cell" not in page
