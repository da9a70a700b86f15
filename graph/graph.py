"""The Data Advisor graph: advisor -> generator (one Send per advice) -> critic -> contrast ->
summarizer -> ..."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Send

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
from graph.state import GenerationTask, LoopState, RunInput, RunOutput

# Supersteps per round: advisor, generator, critic, contrast, summarizer (+ slack).
STEPS_PER_ROUND = 6


def route_start(
    state: LoopState, runtime: Runtime[RunConfig]
) -> Literal["advisor", "self_instruct"]:
    """Data Advisor rounds begin with the advisor; the baseline has none."""
    return "advisor" if runtime.context.strategy == "data-advisor" else "self_instruct"


def dispatch_generation(state: LoopState) -> list[Send]:
    """One generator branch per advice item."""
    return [
        Send("generator", GenerationTask(planned=planned, round=state["round"], branch=i))
        for i, planned in enumerate(state.get("advice") or [])
    ]


def route_after_contrast(
    state: LoopState, runtime: Runtime[RunConfig]
) -> Literal["summarizer", "self_instruct", "finish"]:
    """Data Advisor always summarizes (the final summary too); the baseline loops or stops."""
    if runtime.context.strategy == "data-advisor":
        return "summarizer"
    return "finish" if state.get("stop_reason") else "self_instruct"


def route_after_summary(state: LoopState) -> Literal["advisor", "finish"]:
    """Next round, or stop once the target is reached or a budget is spent."""
    return "finish" if state.get("stop_reason") else "advisor"


def build_graph(
    checkpointer: Checkpointer = None,
) -> CompiledStateGraph[LoopState, RunConfig, RunInput, RunOutput]:
    """Compile the graph; pass a checkpointer for resumable runs."""
    builder = StateGraph(
        LoopState, context_schema=RunConfig, input_schema=RunInput, output_schema=RunOutput
    )
    builder.add_node("advisor", advisor_node)
    builder.add_node("self_instruct", self_instruct_node)
    # mypy cannot match a node whose input is a Send payload, not the state, to add_node's
    # overloads; LangGraph takes it as declared by input_schema.
    builder.add_node("generator", generator_node, input_schema=GenerationTask)  # type: ignore[call-overload]
    builder.add_node("critic", critic_node)
    builder.add_node("contrast", contrast_node)
    builder.add_node("summarizer", summarizer_node)
    builder.add_node("finish", finish_node)
    builder.add_conditional_edges(START, route_start)
    builder.add_conditional_edges("advisor", dispatch_generation, ["generator"])
    builder.add_conditional_edges("self_instruct", dispatch_generation, ["generator"])
    builder.add_edge("generator", "critic")
    builder.add_edge("critic", "contrast")
    builder.add_conditional_edges("contrast", route_after_contrast)
    builder.add_conditional_edges("summarizer", route_after_summary)
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, name="data-advisor")


def recursion_limit(config: RunConfig) -> int:
    """An explicit bound on supersteps, from the round budget."""
    return config.round_budget * STEPS_PER_ROUND + 10


graph = build_graph()
