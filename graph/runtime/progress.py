"""Live progress of a run: a rich panel on a terminal, one line per round otherwise, or quiet."""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from graph.runtime.costs import UNKNOWN_HINT, RunPrices, format_usd
from graph.state import GRID_SEPARATOR, add_usage, usage_total


class RunProgress:
    """Follows the graph's stream of updates and shows where the run is."""

    def __init__(
        self,
        target: int,
        *,
        quiet: bool = False,
        console: Console | None = None,
        prices: RunPrices | None = None,
    ) -> None:
        self.target = target
        self.prices = prices
        self.cost: float | None = None
        """The whole run's dollars so far (resumes included), ``None`` while unknown."""
        self.quiet = quiet
        self.console = console or Console()
        self.started = time.monotonic()
        self.round = 0
        self.accepted = 0
        self.benign = 0
        self.cells: set[str] = set()
        self.tokens = 0
        self.advice: list[str] = []
        self.rejections: dict[str, int] = {}
        self.advice_sources: dict[str, int] = {}
        self.discarded: dict[str, int] = {}
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.console.is_terminal:
            self._live = Live(self._panel(), console=self.console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._panel())
            self._live.__exit__(kind, error, trace)

    def note(self, line: str) -> None:
        """A message outside the live panel (start, resume repairs, the end)."""
        if not self.quiet:
            print(line, flush=True)  # plain: logs and pipes must not get wrapped lines

    def on_update(self, node: str, update: dict[str, Any], state: dict[str, Any]) -> None:
        """Take one node's update (stream mode ``updates``) with the state before it."""
        if node in ("advisor", "self_instruct"):
            self.round = update.get("round", self.round)
            self.advice = [p.advice.safety_issue for p in update.get("advice", [])]
            for source, count in (update.get("advice_sources") or {}).items():
                self.advice_sources[source] = self.advice_sources.get(source, 0) + count
            for reason, count in (update.get("discarded_advice") or {}).items():
                self.discarded[reason] = self.discarded.get(reason, 0) + count
        if "usage" in update:
            usage = update["usage"]
            self.tokens += usage_total(usage, "input_tokens") + usage_total(usage, "output_tokens")
        for reason, count in (update.get("rejections") or {}).items():
            self.rejections[reason] = self.rejections.get(reason, 0) + count
        if node == "critic":
            self.accepted = update.get("accepted", self.accepted)
            if self.prices is not None:  # the run's usage: the state before plus this update
                usage = add_usage(state.get("usage"), update.get("usage"))
                self.cost = self.prices.cost(usage).total
            for cell, count in (update.get("accepted_cells") or {}).items():
                self.cells.add(cell)
                self.benign += count if cell.endswith(f"{GRID_SEPARATOR}benign") else 0
            if self._live is not None:
                self._live.update(self._panel())
            elif not self.quiet:
                print(self._line(len(update.get("round_accepted", []))), flush=True)
        elif self._live is not None:
            self._live.update(self._panel())

    def eta_seconds(self) -> float | None:
        """Estimated seconds left at the acceptance pace so far."""
        if not self.accepted:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.accepted * max(0, self.target - self.accepted)

    def _line(self, added: int) -> str:
        eta = self.eta_seconds()
        top = ", ".join(
            f"{r} {n}" for r, n in sorted(self.rejections.items(), key=lambda kv: -kv[1])[:4]
        )
        return (
            f"round {self.round:>3}: accepted {self.accepted}/{self.target} (+{added}), "
            f"{self._grid_text()}, rejected: {top or 'none'}; {self._advice_text()}; {self.tokens} tokens, "
            f"{self._cost_text()}, {time.monotonic() - self.started:.0f}s"
            + (f", ~{eta / 60:.1f} min left" if eta is not None else "")
        )

    def _cost_text(self) -> str:
        """The run's dollars so far, or that they are unknown."""
        return "cost unknown" if self.cost is None else format_usd(self.cost)

    def _grid_text(self) -> str:
        """This run's grid so far: cells filled and benign look-alikes among the items."""
        return f"{len(self.cells)} cells, {self.benign} benign"

    def _advice_text(self) -> str:
        """Advice used so far by source, and the advisor's items discarded (with the top reason)."""
        used = ", ".join(f"{n} {source}" for source, n in sorted(self.advice_sources.items()))
        text = f"advice: {used or 'none'}"
        if self.discarded:
            reason = max(self.discarded.items(), key=lambda kv: kv[1])[0]
            text += f", {sum(self.discarded.values())} discarded (mostly {reason})"
        return text

    def _panel(self) -> Table:
        table = Table(title="data-advisor", show_header=False, expand=False)
        eta = self.eta_seconds()
        rows = [
            ("accepted", f"{self.accepted} / {self.target}"),
            ("round", str(self.round)),
            ("grid", self._grid_text()),
            ("advice", ", ".join(self.advice) or "-"),
            ("advice so far", self._advice_text().removeprefix("advice: ")),
            (
                "rejected",
                ", ".join(
                    f"{r}: {n}" for r, n in sorted(self.rejections.items(), key=lambda kv: -kv[1])
                )
                or "-",
            ),
            ("tokens", str(self.tokens)),
            ("cost", self._cost_text()),
            ("elapsed", f"{time.monotonic() - self.started:.0f} s"),
            ("left", f"~{eta / 60:.1f} min" if eta is not None else "-"),
        ]
        for key, value in rows:
            table.add_row(key, value)
        return table

    def final(self, stats: dict[str, Any], out: str) -> None:
        """The closing table (unless quiet) and one machine-readable line: ``result: {json}``."""
        cost = stats.get("cost") or {}
        if not self.quiet and not self.console.is_terminal:
            print(
                f"done: {stats['accepted']} accepted of {stats['candidates_judged']} judged "
                f"({stats['acceptance_rate']:.0%}), {stats['llm_calls']} LLM calls, "
                f"{final_cost_text(cost)}, {stats['seconds']}s; {stats['stop_reason']}",
                flush=True,
            )
        elif not self.quiet:
            table = Table(title="run finished")
            for column in (
                "accepted",
                "judged",
                "acceptance",
                "LLM calls",
                "tokens / item",
                "cost",
                "seconds",
                "stop",
            ):
                table.add_column(column)
            table.add_row(
                str(stats["accepted"]),
                str(stats["candidates_judged"]),
                f"{stats['acceptance_rate']:.0%}",
                str(stats["llm_calls"]),
                str(stats["tokens_per_accepted_item"]),
                final_cost_text(cost),
                str(stats["seconds"]),
                str(stats["stop_reason"]),
            )
            self.console.print(table)
        keys = (
            "accepted",
            "candidates_judged",
            "llm_calls",
            "input_tokens",
            "output_tokens",
            "seconds",
            "stop_reason",
        )
        result = {
            "out": out,
            "target": self.target,
            **{k: stats.get(k) for k in keys},
            "cost_usd": cost.get("total_usd"),
        }
        print("result: " + json.dumps(result), flush=True)


def final_cost_text(cost: dict[str, Any]) -> str:
    """A run's dollars in all and per accepted item (``stats.json``'s ``cost``), or unknown."""
    if cost.get("total_usd") is None:
        return UNKNOWN_HINT
    per_item = cost.get("per_accepted_item_usd")
    each = f" ({format_usd(per_item)} per accepted item)" if per_item is not None else ""
    return f"cost {format_usd(cost['total_usd'])}{each}"
