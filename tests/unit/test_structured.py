"""agents/structured.py: tolerant JSON parsing and retrying structured calls that never crash."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage

from agents.errors import UserError
from agents.schemas import AdvisorAdvice, CriticJudgement, SummaryUpdate
from agents.structured import invoke_structured, invoke_structured_many, parse_json_answer
from agents.telemetry import CallTelemetry

VALID = '{"reason": "Declines and offers help.", "verdict": "accept"}'
MESSAGES = [HumanMessage("judge this")]


def _request() -> httpx.Request:
    return httpx.Request("POST", "http://localhost:9/v1/chat/completions")


def _status_error(cls, code: int):
    return cls("boom", response=httpx.Response(code, request=_request()), body=None)


@pytest.mark.parametrize(
    "text",
    [
        VALID,
        f"```json\n{VALID}\n```",
        f"```\n{VALID}\n```",
        f"Here is my verdict:\n{VALID}\nHope this helps.",
        f"Sure! ```json\n{VALID}\n``` Done.",
        f"\n\n   {VALID}   \n",
    ],
    ids=["clean", "json-fence", "bare-fence", "text-around", "fence-and-text", "whitespace"],
)
def test_parse_json_answer_accepts_wrapped_json(text):
    parsed = parse_json_answer(text, CriticJudgement)
    assert parsed == CriticJudgement(reason="Declines and offers help.", verdict="accept")


@pytest.mark.parametrize(
    ("text", "reason_start"),
    [
        ("", "empty answer"),
        ("   \n ", "empty answer"),
        (None, "empty answer"),
        ("I think it should be accepted.", "no JSON object"),
        ('{"reason": "x", "verdict": "accept"', "no JSON object"),
        ('{"reason": "x", verdict: accept}', "malformed JSON"),
        ('{"reason": "x", "verdict": "maybe"}', "schema violation at verdict"),
        ('{"verdict": "accept"}', "schema violation at reason"),
        (json.dumps({"reason": "x" * 201, "verdict": "reject"}), "schema violation at reason"),
        ('{"advice": []}', "schema violation at advice"),
    ],
    ids=[
        "empty",
        "blank",
        "none",
        "no-json",
        "unclosed",
        "broken",
        "bad-literal",
        "missing-field",
        "too-long",
        "empty-list",
    ],
)
def test_parse_json_answer_errors_are_short_value_errors(text, reason_start):
    schema = AdvisorAdvice if reason_start.endswith("advice") else CriticJudgement
    with pytest.raises(ValueError) as info:
        parse_json_answer(text, schema)
    message = str(info.value)
    assert message.startswith(reason_start)
    assert "\n" not in message and len(message) < 200


def test_invoke_structured_retries_a_malformed_first_answer():
    model = FakeListChatModel(responses=["not json at all", VALID])
    result = invoke_structured(model, MESSAGES, CriticJudgement, attempts=2)
    assert result.value is not None and result.value.verdict == "accept"
    assert result.error is None
    assert result.usage.calls == 2


def test_invoke_structured_gives_up_without_raising():
    model = FakeListChatModel(responses=["nope", '{"reason": 1}', "```json\n{```"])
    result = invoke_structured(model, MESSAGES, CriticJudgement, attempts=3)
    assert result.value is None
    assert result.error  # the last attempt's reason
    assert result.usage.calls == 3


def test_invoke_structured_first_good_answer_makes_one_call(recording_model):
    model = recording_model(
        VALID, usage={"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    )
    result = invoke_structured(model, MESSAGES, CriticJudgement, attempts=3, seed=5)
    assert result.value is not None
    assert (result.usage.calls, result.usage.input_tokens, result.usage.output_tokens) == (1, 11, 7)


def test_invoke_structured_sends_schema_and_varies_seed_per_attempt(recording_model):
    model = recording_model("bad", "worse")
    invoke_structured(model, MESSAGES, SummaryUpdate, attempts=2, seed=3)
    formats = [kw["response_format"] for kw in model.seen_kwargs]
    assert all(f["json_schema"]["name"] == "SummaryUpdate" for f in formats)
    seeds = [kw["seed"] for kw in model.seen_kwargs]
    assert seeds[0] == 3 and seeds[1] != seeds[0]


def test_zero_attempts_still_makes_one_call(recording_model):
    model = recording_model("junk")
    result = invoke_structured(model, MESSAGES, CriticJudgement, attempts=0)
    assert result.value is None and result.usage.calls == 1


@pytest.mark.parametrize(
    "error",
    [
        _status_error(openai.AuthenticationError, 401),
        _status_error(openai.NotFoundError, 404),
    ],
    ids=["auth", "not-found"],
)
def test_unfixable_transport_errors_become_user_errors(recording_model, error):
    model = recording_model(raises=error)
    with pytest.raises(UserError) as info:
        invoke_structured(model, MESSAGES, CriticJudgement, attempts=3)
    assert "\n" not in str(info.value)
    assert len(model.seen) == 1  # not retried


def test_authentication_error_message_names_the_key(recording_model):
    model = recording_model(raises=_status_error(openai.AuthenticationError, 401))
    with pytest.raises(UserError, match="API key"):
        invoke_structured(model, MESSAGES, CriticJudgement)


def test_server_errors_are_retried_then_reported(recording_model):
    model = recording_model(raises=_status_error(openai.InternalServerError, 500))
    result = invoke_structured(model, MESSAGES, CriticJudgement, attempts=2)
    assert result.value is None
    assert result.error.startswith("InternalServerError") and result.usage.failures == {
        "transport": 2
    }
    assert result.usage.calls == 2


def test_invoke_structured_many_keeps_input_order():
    answers = [json.dumps({"reason": f"r{i}", "verdict": "accept"}) for i in range(6)]

    class PerConversation(FakeListChatModel):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            return answers[int(messages[-1].content)]

    model = PerConversation(responses=["unused"])
    conversations = [[HumanMessage(str(i))] for i in range(6)]
    results = invoke_structured_many(model, conversations, CriticJudgement, concurrency=4)
    assert [r.value.reason for r in results] == [f"r{i}" for i in range(6)]
    assert invoke_structured_many(model, [], CriticJudgement, concurrency=4) == []


def test_transport_failures_are_retried_then_stop_the_run_when_persistent(recording_model):
    error = openai.APIConnectionError(request=_request())
    flaky = recording_model(raises=error)
    telemetry = CallTelemetry()
    result = invoke_structured(flaky, MESSAGES, CriticJudgement, attempts=2, telemetry=telemetry)
    assert result.value is None and result.usage.failures == {"transport": 2}
    assert result.usage.as_counts()["failed_transport"] == 2
    with pytest.raises(UserError, match="failed 3 calls in a row") as info:
        invoke_structured(flaky, MESSAGES, CriticJudgement, attempts=2, telemetry=telemetry)
    assert "\n" not in str(info.value)


def test_one_runs_failures_never_count_toward_another_runs_give_up(recording_model):
    error = openai.APIConnectionError(request=_request())
    failing, healthy = CallTelemetry(), CallTelemetry()
    failing.record_call(False)
    failing.record_call(False)
    healthy.record_call(False)
    with pytest.raises(UserError):
        failing.record_call(False)
    result = invoke_structured(
        recording_model(raises=error), MESSAGES, CriticJudgement, attempts=1, telemetry=healthy
    )
    assert result.value is None and healthy.failed_in_a_row == 2  # not given up: its own streak


def test_a_success_resets_the_failure_streak(recording_model):
    error = openai.APIConnectionError(request=_request())
    run = CallTelemetry()
    invoke_structured(
        recording_model(raises=error), MESSAGES, CriticJudgement, attempts=2, telemetry=run
    )
    good = json.dumps({"reason": "fine", "verdict": "accept"})
    assert (
        invoke_structured(recording_model(good), MESSAGES, CriticJudgement, telemetry=run).value
        is not None
    )
    result = invoke_structured(
        recording_model(raises=error), MESSAGES, CriticJudgement, attempts=2, telemetry=run
    )
    assert result.value is None  # two more failures after a success: not yet fatal
