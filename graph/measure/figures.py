"""What every picture of the report shares: one colour per run, the run's label, PNG data URIs."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
COLORS = [f"C{i}" for i in range(10)]  # matplotlib's default cycle (tab10)
LABEL_CHARS = 40


def run_label(metrics: dict[str, Any]) -> str:
    """Legend label of a run: directory name and strategy."""
    return f"{metrics['name']} ({metrics['strategy']})"


def short_label(text: str, limit: int = LABEL_CHARS) -> str:
    """A label cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def png_data_uri(figure: Figure) -> str:
    """Render a laid-out figure with the Agg backend as a base64 PNG data URI."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_section(title: str, uri: str) -> str:
    """An HTML heading and the image under it."""
    return f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="{uri}">'


def note(text: str) -> str:
    """An HTML paragraph saying why a picture is missing or what it leaves out."""
    return f'<p class="note">{html.escape(text)}</p>'
