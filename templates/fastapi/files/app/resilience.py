"""Timeouts, retries with exponential backoff and a circuit breaker, used
around every call to Kafka and the databases."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


class CircuitOpenError(RuntimeError):
    """The breaker is open: the call was not attempted."""


class CircuitBreaker:
    """closed -> (failure_threshold consecutive failures) -> open ->
    (reset_timeout_s) -> half-open -> one trial call -> closed or open."""

    def __init__(
        self,
        name: str,
        failure_threshold: int = 3,
        reset_timeout_s: float = 10.0,
        on_change: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._on_change = on_change
        self._clock = clock
        self._state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self.last_error = ""
        if on_change:
            on_change(name, "closed")

    @property
    def state(self) -> str:
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_timeout_s:
            self._set("half-open")
        return self._state

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_change:
                self._on_change(self.name, state)

    def allow(self) -> bool:
        """Whether a call may go through now (half-open allows one at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._trial_running = False
        self._set("closed")

    def record_failure(self, error: BaseException | str) -> None:
        self.last_error = str(error) or type(error).__name__
        self._trial_running = False
        if self._state == "half-open":
            self._opened_at = self._clock()
            self._set("open")
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set("open")

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if not self.allow():
            raise CircuitOpenError(f"{self.name} circuit is open: {self.last_error}")
        if self._state == "half-open":
            self._trial_running = True
        try:
            result = await fn()
        except asyncio.CancelledError:
            self._trial_running = False
            raise
        except Exception as exc:
            self.record_failure(exc)
            raise
        self.record_success()
        return result


class Backoff:
    """Exponential backoff with full jitter: base * 2^n, capped."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 10.0, jitter: bool = True) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.jitter = jitter
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay) if self.jitter else delay

    def reset(self) -> None:
        self.attempt = 0


async def retry(
    fn: Callable[[], Awaitable[T]],
    attempts: int = 3,
    timeout_s: float | None = None,
    backoff: Backoff | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Call fn up to `attempts` times (each bounded by `timeout_s` when given).
    An open circuit is not retried."""
    backoff = backoff or Backoff(base_s=0.05, cap_s=0.5)
    last: BaseException | None = None
    for i in range(attempts):
        try:
            if timeout_s is None:
                return await fn()
            return await asyncio.wait_for(fn(), timeout=timeout_s)
        except CircuitOpenError:
            raise
        except retry_on as exc:  # includes asyncio.TimeoutError
            last = exc
            if i + 1 < attempts:
                await asyncio.sleep(backoff.next())
    assert last is not None
    raise last
