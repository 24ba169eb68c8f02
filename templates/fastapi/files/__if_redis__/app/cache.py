"""Redis as a cache of greetings. Every call has a timeout and goes through a
circuit breaker; a cache that is down only means the greeting is computed
again."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from .metrics import Metrics
from .resilience import CircuitBreaker
from .settings import Settings

log = logging.getLogger("app.redis")

TTL_SECONDS = 300


class Cache:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.enabled = bool(settings.redis_url)
        self.breaker = CircuitBreaker(
            "redis",
            failure_threshold=settings.breaker_failures,
            reset_timeout_s=settings.breaker_reset_s,
            on_change=metrics.breaker_changed,
        )
        self.client: Any = None
        self.misses = 0

    async def start(self) -> None:
        if not self.enabled:
            return
        import redis.asyncio as redis

        timeout = self.settings.dependency_timeout_s
        # Connections are made on first use, so this never blocks start-up.
        self.client = redis.from_url(
            self.settings.redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with suppress(Exception):
                await asyncio.wait_for(client.aclose(), timeout=5)

    async def _call(self, fn: Any) -> Any:
        return await self.breaker.call(lambda: asyncio.wait_for(fn(), timeout=self.settings.dependency_timeout_s))

    async def check(self) -> tuple[bool, str]:
        if self.client is None:
            return False, "not configured"
        try:
            await self._call(lambda: self.client.ping())
        except Exception as exc:
            return False, str(exc) or type(exc).__name__
        return True, "connected"

    async def get(self, key: str) -> str | None:
        if self.client is None:
            return None
        try:
            return await self._call(lambda: self.client.get(key))
        except Exception:
            self.misses += 1
            return None

    async def set(self, key: str, value: str) -> None:
        if self.client is None:
            return
        with suppress(Exception):
            await self._call(lambda: self.client.set(key, value, ex=TTL_SECONDS))
