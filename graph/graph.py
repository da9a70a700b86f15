"""The Data Advisor graph: advisor -> generator -> critic -> (contrast, summarizer) -> ...

The advisor plans advice ahead into a backlog; its generator tasks run in the background
(``graph.runtime.pipeline``) and the generator step collects the oldest of them, so the server
stays busy while a round is judged and the next one planned."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graph.context import RunConfig
from graph.nodes import (
    advisor_node,
    contrast_node,
    critic_node,
    finish_node,
    generator_node,
    self_instruct_node,
    summarizer_node,
)
from graph.state import LoopState, RunInput, RunOutput

# Supersteps per round: advisor, generator, critic, contrast and summarizer side by side (+ slack).
STEPS_PER_ROUND = 6


def route_start(
    state: LoopState, runtime: Runtime[RunConfig]
) -> Literal["advisor", "self_instruct"]:
    """Data Advisor rounds begin with the advisor; the baseline has none."""
    return "advisor" if runtime.context.strategy == "data-advisor" else "self_instruct"


def route_next_round(state: LoopState) -> Literal["advisor", "self_instruct", "finish"]:
    """After the round's pairs (and its summary, side by side): the next round, or stop once the
    target is reached or a budget is spent. Contrast and summarizer agree, so the next node runs
    once. It reads the strategy from the state, not the context: LangGraph evaluates a route
    again when it resumes a step whose writes were saved, without the run's context."""
    if state.get("stop_reason"):
        return "finish"
    return "self_instruct" if state.get("strategy") == "self-instruct" else "advisor"


def build_graph(
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph[LoopState, RunConfig, RunInput, RunOutput]:
    """Compile the graph; pass a checkpointer for resumable runs."""
    builder = StateGraph(
        LoopState, context_schema=RunConfig, input_schema=RunInput, output_schema=RunOutput
    )
    builder.add_node("advisor", advisor_node)
    builder.add_node("self_instruct", self_instruct_node)
    builder.add_node("generator", generator_node)
    builder.add_node("critic", critic_node)
    builder.add_node("contrast", contrast_node)
    builder.add_node("summarizer", summarizer_node)
    builder.add_node("finish", finish_node)
    builder.add_conditional_edges(START, route_start)
    builder.add_edge("advisor", "generator")
    builder.add_edge("self_instruct", "generator")
    builder.add_edge("generator", "critic")
    builder.add_edge("critic", "contrast")
    builder.add_edge("critic", "summarizer")  # the baseline's summarizer writes nothing
    builder.add_conditional_edges("contrast", route_next_round)
    builder.add_conditional_edges("summarizer", route_next_round)
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name="data-advisor")


def recursion_limit(config: RunConfig) -> int:
    """An explicit bound on supersteps, from the round budget."""
    return config.round_budget * STEPS_PER_ROUND + 10


graph = build_graph()
