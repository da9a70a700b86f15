"""A generator that refuses to write harmful requests, as aligned models often do.

``RefusingModel`` wraps another double and, for a share of the generator's calls, refuses in one
of the three forms servers use: ``fields`` (refusal text inside the JSON fields), ``text`` (a
plain-text refusal instead of JSON) or ``refusal`` (OpenAI's separate ``refusal`` field with no
content; served as such by ``tests.doubles.openai_server``). Every other call goes to the inner
model. Which calls refuse is fixed by a counter: call n refuses when ``floor(n * rate)`` grows.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

RefusalForm = Literal["fields", "text", "refusal"]
GENERATOR_SCHEMAS = ("GeneratedBatch", "LabeledBatch")
REFUSAL = "I'm sorry, but I can't help create requests like that."


class RefusingModel(BaseChatModel):
    """Refuses ``rate`` of the generator's calls in ``form``; the inner model answers the rest."""

    inner: BaseChatModel
    rate: float = 1.0
    form: RefusalForm = "text"
    _calls: int = PrivateAttr(default=0)
    _refused: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "refusing-model"

    @property
    def refused(self) -> int:
        """How many calls it refused."""
        return self._refused

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        schema = (kwargs.get("response_format") or {}).get("json_schema", {}).get("name", "")
        if schema in GENERATOR_SCHEMAS and self._refuses_next():
            return ChatResult(generations=[ChatGeneration(message=self._refusal(schema))])
        return self.inner._generate(messages, stop, run_manager, **kwargs)

    def _refuses_next(self) -> bool:
        with self._lock:
            self._calls += 1
            refuses = math.floor(self._calls * self.rate) > math.floor(
                (self._calls - 1) * self.rate
            )
            self._refused += refuses
        return refuses

    def _refusal(self, schema: str) -> AIMessage:
        usage = {"input_tokens": 100, "output_tokens": 15, "total_tokens": 115}
        if self.form == "refusal":
            return AIMessage(
                content="", additional_kwargs={"refusal": REFUSAL}, usage_metadata=usage
            )
        if self.form == "fields":
            item = {"prompt": REFUSAL}
            if schema == "LabeledBatch":
                item["safety_issue"] = "none"
            return AIMessage(content=json.dumps({"items": [item]}), usage_metadata=usage)
        return AIMessage(content=REFUSAL, usage_metadata=usage)
