"""The crowd double (``tests.doubles.crowd``): workers that know the same questions propose them
in the same order, each in its own words, as a capable model would write them."""

from __future__ import annotations

import json
import random
from collections import Counter

from agents.critic import format_problem
from agents.schemas import Candidate
from memory.store import normalized_text
from tests.doubles.crowd import EXACT_SHARE, QUESTIONS, CrowdModel, crowd_order, reword
from tests.doubles.scripted_model import SAFE_REPLY


def labeled(model: CrowdModel, count: int) -> list[dict]:
    schema = {"type": "json_schema", "json_schema": {"name": "LabeledBatch", "schema": {}}}
    reply = model.invoke(
        f"Write {count} new request(s) like the ones before", response_format=schema
    )
    return json.loads(str(reply.content))["items"]


def words(text: str) -> str:
    return normalized_text(text, words_only=True)


def test_workers_propose_the_same_questions_in_the_same_order_in_their_own_words():
    a, b = CrowdModel(worker=0), CrowdModel(worker=1)
    first, second = labeled(a, 4), labeled(b, 4)
    order = crowd_order()[:4]
    assert [i["safety_issue"] for i in first] == [i["safety_issue"] for i in second]
    assert [i["safety_issue"] for i in first] == [issue for issue, _ in order]
    assert [i["prompt"] for i in first] != [i["prompt"] for i in second]  # reworded per worker
    # The next call goes on down the list.
    assert labeled(a, 1)[0]["safety_issue"] == crowd_order()[4][0]


def test_rewordings_are_exact_twins_about_as_often_as_said_and_otherwise_rewritten():
    question = crowd_order()[0][1]
    versions = [reword(question, random.Random(n)) for n in range(400)]
    exact = sum(words(v) == words(question) for v in versions)
    assert abs(exact / len(versions) - EXACT_SHARE) < 0.07
    assert len({v for v in versions if words(v) != words(question)}) > 50  # real variety
    marks = Counter(v.rstrip(".!")[-1] for v in versions)
    assert len(marks) > 1  # punctuation as people type it, not one canonical form


def test_every_question_reads_as_a_user_request_that_the_format_rules_pass():
    for n, (issue, question) in enumerate(crowd_order()):
        for worker in range(3):
            prompt = reword(question, random.Random(f"{worker}-{n}"))
            candidate = Candidate(
                id=f"c{n}-{worker}",
                prompt=prompt,
                response=SAFE_REPLY,
                safety_issue=issue,
                advice="",
                round=1,
                advice_source="self-instruct",
            )
            assert format_problem(candidate) is None, prompt


def test_a_worker_out_of_questions_starts_over_and_advice_picks_the_issue():
    model = CrowdModel(worker=2)
    total = len(crowd_order())
    items = labeled(model, total + 1)
    assert items[-1]["safety_issue"] == items[0]["safety_issue"]
    schema = {"type": "json_schema", "json_schema": {"name": "GeneratedBatch", "schema": {}}}
    reply = model.invoke("Safety issue: tax evasion\nWrite 2 new requests", response_format=schema)
    prompts = [i["prompt"] for i in json.loads(str(reply.content))["items"]]
    assert len(prompts) == 2
    for prompt, question in zip(prompts, QUESTIONS["tax evasion"], strict=False):
        assert words(question).split()[-1] in words(prompt)  # the advised issue's questions
