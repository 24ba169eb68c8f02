"""The circuit breaker, retries and the event hub."""

from __future__ import annotations

import asyncio

import pytest

from app.events import EventHub, greeting_created
from app.resilience import Backoff, CircuitBreaker, CircuitOpenError, retry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    raise ConnectionError("down")


async def succeed() -> str:
    return "ok"


def test_breaker_opens_after_consecutive_failures_and_recovers():
    clock = Clock()
    changes: list[str] = []
    b = CircuitBreaker("kafka", failure_threshold=3, reset_timeout_s=10, on_change=lambda _, s: changes.append(s), clock=clock)

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await b.call(fail)
        assert b.state == "open"
        with pytest.raises(CircuitOpenError):
            await b.call(succeed)
        clock.now = 10.0
        assert b.state == "half-open"
        assert await b.call(succeed) == "ok"
        assert b.state == "closed"

    asyncio.run(run())
    assert changes == ["closed", "open", "half-open", "closed"]


def test_a_failed_trial_reopens_the_breaker():
    clock = Clock()
    b = CircuitBreaker("db", failure_threshold=1, reset_timeout_s=5, clock=clock)

    async def run() -> None:
        with pytest.raises(ConnectionError):
            await b.call(fail)
        clock.now = 5.0
        assert b.state == "half-open"
        with pytest.raises(ConnectionError):
            await b.call(fail)
        assert b.state == "open"

    asyncio.run(run())


def test_retry_tries_again_then_gives_up():
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("not yet")
        return "done"

    assert asyncio.run(retry(flaky, attempts=3, backoff=Backoff(base_s=0.001))) == "done"
    calls = -10
    with pytest.raises(ConnectionError):
        asyncio.run(retry(flaky, attempts=2, backoff=Backoff(base_s=0.001)))


def test_retry_bounds_each_attempt():
    async def slow() -> None:
        await asyncio.sleep(5)

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(retry(slow, attempts=2, timeout_s=0.01, backoff=Backoff(base_s=0.001)))


def test_backoff_grows_exponentially_up_to_the_cap():
    b = Backoff(base_s=0.1, cap_s=0.5, jitter=False)
    assert [b.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_hub_delivers_once_and_bounds_slow_clients():
    async def run() -> None:
        hub = EventHub(queue_size=2)
        q = hub.subscribe()
        first = greeting_created("a", "Hello, a!")
        assert hub.deliver(first)
        assert not hub.deliver(first), "the same event id is delivered once"
        hub.deliver(greeting_created("b", "Hello, b!"))
        hub.deliver(greeting_created("c", "Hello, c!"))
        assert hub.dropped == 1
        assert [q.get_nowait()["aggregateId"] for _ in range(2)] == ["b", "c"]
        hub.unsubscribe(q)
        assert hub.subscribers == 0

    asyncio.run(run())
