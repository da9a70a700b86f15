"""Runs of the real graph on the scripted double: the CLI's ``main``, with the models replaced.

The product has no fake model provider; a test points a run at an unused endpoint name (never
called: the models are handed to ``run`` directly) and lets the scripted double answer.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.models import ROLES, Role
from graph.cli import run_command
from graph.run import config_from_args, run
from tests.doubles.scripted_model import ScriptedDataModel

# Flags that make a run configuration valid without a server: the endpoint is never called.
SCRIPTED = [
    "--base-url",
    "http://scripted.invalid/v1",
    "--model",
    "scripted",
    "--embedding-provider",
    "fake",
]
SCRIPTED_CONFIG: dict[str, Any] = {
    "provider": "openai",
    "base_url": "http://scripted.invalid/v1",
    "model": "scripted",
    "embedding_provider": "fake",
}


def scripted_models(seed: int = 0) -> dict[Role, BaseChatModel]:
    """One scripted double answering every role."""
    model = ScriptedDataModel(seed=seed)
    return {role: model for role in ROLES}


def scripted_main(argv: list[str]) -> int:
    """``graph.run.main`` with the scripted double as every role's model."""

    def body() -> int:
        config, resume, quiet = config_from_args(argv)
        return run(config, resume=resume, quiet=quiet, models=scripted_models(config.seed))

    return run_command(body)
