"""The adaptive limit on requests in flight (AIMD on 429s) and the transport that feeds it."""

from __future__ import annotations

import threading
import time
from collections import deque

import httpx
import pytest

from agents.concurrency import AdaptiveLimit, mean_limit_between
from agents.models import CountingTransport, outcome_of
from agents.telemetry import CallTelemetry
from tests.doubles.openai_server import FakeOpenAIServer


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keep_busy(limit: AdaptiveLimit, successes: int) -> None:
    """Keep the limit full and let ``successes`` requests succeed one after another."""
    held = deque(limit.acquire() for _ in range(limit.limit))
    for _ in range(successes):
        limit.release(held.popleft(), "ok")
        while limit.in_flight < limit.limit:
            held.append(limit.acquire())
    for ticket in held:
        limit.release(ticket, "failed")


def test_it_starts_at_the_maximum_and_holds_no_more_than_the_limit_in_flight() -> None:
    limit = AdaptiveLimit(3)
    tickets = [limit.acquire() for _ in range(3)]
    assert limit.limit == 3 and limit.in_flight == 3
    entered = threading.Event()

    def fourth() -> None:
        limit.release(limit.acquire(), "ok")
        entered.set()

    waiter = threading.Thread(target=fourth)
    waiter.start()
    assert not entered.wait(0.2), "a fourth request got in at a limit of 3"
    limit.release(tickets.pop(), "ok")
    assert entered.wait(5)
    waiter.join()


def test_a_burst_of_429s_from_one_overload_cuts_the_limit_once() -> None:
    limit = AdaptiveLimit(16)
    tickets = [limit.acquire() for _ in range(16)]
    for ticket in tickets:  # all sent under the old limit: one overload
        limit.release(ticket, "overloaded")
    assert limit.limit == 8
    limit.release(limit.acquire(), "overloaded")  # sent after the cut: a new overload
    assert limit.limit == 4
    assert limit.report()["decreases"] == 2


def test_the_limit_never_falls_below_one_nor_grows_past_the_maximum() -> None:
    limit = AdaptiveLimit(5)
    for _ in range(10):
        limit.release(limit.acquire(), "overloaded")
    assert limit.limit == 1
    keep_busy(limit, 1000)
    assert limit.limit == 5


def test_it_grows_by_one_after_a_limits_worth_of_successes() -> None:
    limit = AdaptiveLimit(16)
    limit.release(limit.acquire(), "overloaded")
    assert limit.limit == 8
    keep_busy(limit, 7)
    assert limit.limit == 8
    keep_busy(limit, 1)
    assert limit.limit == 9
    keep_busy(limit, 9)
    assert limit.limit == 10


def test_successes_while_the_limit_is_mostly_idle_do_not_grow_it() -> None:
    limit = AdaptiveLimit(16)
    limit.release(limit.acquire(), "overloaded")
    for _ in range(100):  # one call at a time at a limit of 8: no evidence the server takes more
        limit.release(limit.acquire(), "ok")
    assert limit.limit == 8


def test_failures_other_than_429_change_nothing() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(20):
        limit.release(limit.acquire(), "failed")
    assert limit.limit == 8 and limit.report()["decreases"] == 0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (429, "overloaded"), (500, "failed"), (503, "failed"), (404, "failed")],
)
def test_only_a_429_is_taken_for_overload(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_against_a_server_of_capacity_4_the_limit_settles_near_4() -> None:
    """A deterministic simulation: each step the oldest request is answered, and as many new ones
    are sent as the limit allows; the server answers 429 at once beyond 4 in service."""
    capacity, limit = 4, AdaptiveLimit(32)
    in_service: deque[int] = deque()
    limits = []
    for _ in range(2000):
        while limit.in_flight < limit.limit:
            ticket = limit.acquire()
            if len(in_service) >= capacity:
                limit.release(ticket, "overloaded")
            else:
                in_service.append(ticket)
        limits.append(limit.limit)
        limit.release(in_service.popleft(), "ok")
    settled = limits[len(limits) // 2 :]
    assert min(settled) >= 2 and max(settled) <= capacity + 1
    assert 3 <= sum(settled) / len(settled) <= 5


def test_the_report_gives_the_limit_over_time_and_time_weighted_means() -> None:
    clock = Clock()
    limit = AdaptiveLimit(8, clock=clock)
    tickets = [limit.acquire() for _ in range(8)]
    clock.now += 10  # 10 s at 8 with 8 in flight
    limit.release(tickets.pop(), "overloaded")  # 8 -> 4
    for ticket in tickets:
        limit.release(ticket, "failed")
    clock.now += 30  # 30 s at 4 with none in flight
    report = limit.report()
    assert report["limit_over_time"] == [[0.0, 8, 0], [10.0, 4, 7]]
    assert report["mean_limit"] == pytest.approx((8 * 10 + 4 * 30) / 40)
    assert report["mean_in_flight"] == pytest.approx(8 * 10 / 40)
    assert report["max_in_flight"] == 8 and report["min_limit"] == 4
    assert report["seconds"] == 40.0 and report["maximum"] == 8 and report["limit"] == 4


def test_the_series_stays_bounded_and_spans_the_whole_run() -> None:
    clock = Clock()
    limit = AdaptiveLimit(64, clock=clock, max_samples=16)
    for _ in range(200):
        clock.now += 1
        limit.release(limit.acquire(), "overloaded")  # 64 -> ... -> 1, then unchanged
        clock.now += 1
        keep_busy(limit, limit.limit)  # +1
    samples = limit.report()["limit_over_time"]
    assert len(samples) <= 16
    assert samples[0] == [0.0, 64, 0]
    assert samples[-1][0] >= 390  # the last change is kept


def test_the_transport_cuts_the_limit_on_a_servers_429_and_counts_it() -> None:
    telemetry = CallTelemetry()
    limit = AdaptiveLimit(4)
    with FakeOpenAIServer(latency=0.5, max_concurrent=1, over_capacity="429") as server:
        url = server.base_url + "/chat/completions"
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        # Another client takes the server's only slot for 0.5 s.
        busy = threading.Thread(target=lambda: httpx.post(url, json=body, timeout=10))
        busy.start()
        time.sleep(0.1)
        client = httpx.Client(transport=CountingTransport(limit, telemetry), timeout=10)
        refused = client.post(url, json=body)
        busy.join()
        answered = client.post(url, json=body)
        rejected = server.rejected
    assert (refused.status_code, answered.status_code, rejected) == (429, 200, 1)
    assert limit.limit == 2 and limit.in_flight == 0
    assert telemetry.transport_faults() == {"http_429": 1}


def test_the_servers_429_carries_retry_after() -> None:
    with FakeOpenAIServer(
        latency=0.5, max_concurrent=1, over_capacity="429", retry_after=2
    ) as server:
        url = server.base_url + "/chat/completions"
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        first = threading.Thread(target=lambda: httpx.post(url, json=body, timeout=10))
        first.start()
        time.sleep(0.1)
        second = httpx.post(url, json=body, timeout=10)
        first.join()
    assert second.status_code == 429 and second.headers["Retry-After"] == "2"


def test_the_connection_pool_is_as_large_as_the_limit() -> None:
    """httpx pools 100 connections by default: at --concurrency 256 the pool would decide."""
    transport = CountingTransport(AdaptiveLimit(256))
    assert transport._pool._max_connections == 256
    assert transport._pool._max_keepalive_connections == 256


def test_a_factor_of_one_keeps_the_limit_fixed() -> None:
    limit = AdaptiveLimit(6, decrease_factor=1)
    for _ in range(5):
        limit.release(limit.acquire(), "overloaded")
    assert limit.limit == 6 and limit.report()["decreases"] == 0


def test_the_mean_limit_over_a_window_weights_each_step_by_its_time() -> None:
    samples = [[0.0, 16, 0], [2.0, 8, 5], [6.0, 4, 3]]
    assert mean_limit_between(samples, 0.0, 10.0) == pytest.approx((16 * 2 + 8 * 4 + 4 * 4) / 10)
    assert mean_limit_between(samples, 5.0, 10.0) == pytest.approx((8 * 1 + 4 * 4) / 5)


def test_telemetry_reports_the_runs_limit_or_none() -> None:
    assert CallTelemetry().concurrency_report() is None
    report = CallTelemetry(concurrency=AdaptiveLimit(3)).concurrency_report()
    assert report is not None and report["maximum"] == 3 and report["limit"] == 3


def test_a_waiting_foreground_request_goes_before_waiting_background_ones():
    from agents.concurrency import background_requests

    limit = AdaptiveLimit(1)
    first = limit.acquire()  # the one place is taken
    order: list[str] = []

    def wait_for_place(name: str, background: bool) -> None:
        if background:
            with background_requests():
                ticket = limit.acquire()
        else:
            ticket = limit.acquire()
        order.append(name)
        limit.release(ticket, "ok")

    threads = [threading.Thread(target=wait_for_place, args=(f"bg{i}", True)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # the background requests wait first ...
    fg = threading.Thread(target=wait_for_place, args=("fg", False))
    fg.start()
    time.sleep(0.1)
    limit.release(first, "ok")  # ... yet the foreground one gets the place
    for t in [*threads, fg]:
        t.join(5)
    assert order[0] == "fg" and sorted(order[1:]) == ["bg0", "bg1", "bg2"]
