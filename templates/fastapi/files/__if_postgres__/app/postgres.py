"""PostgreSQL through asyncpg: greetings are stored as they are made. The
pool is created in the background with backoff, and every query goes
through a timeout and a circuit breaker, so the API keeps answering while
the database is down."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime
from typing import Any

from .events import EventDict
from .metrics import Metrics
from .resilience import Backoff, CircuitBreaker, retry
from .settings import Settings

log = logging.getLogger("app.postgres")

SCHEMA = """
CREATE TABLE IF NOT EXISTS greetings (
    event_id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)
"""


class Postgres:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.enabled = bool(settings.database_url)
        self.breaker = CircuitBreaker(
            "postgres",
            failure_threshold=settings.breaker_failures,
            reset_timeout_s=settings.breaker_reset_s,
            on_change=metrics.breaker_changed,
        )
        self.pool: Any = None
        self.last_error = "not connected yet" if self.enabled else ""
        self.failed_writes = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._connect_loop(), name="postgres-connect")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        pool, self.pool = self.pool, None
        if pool is not None:
            with suppress(Exception):
                await asyncio.wait_for(pool.close(), timeout=5)

    async def _connect_loop(self) -> None:
        import asyncpg

        backoff = Backoff(base_s=0.5, cap_s=15.0)
        while not self._stopping.is_set() and self.pool is None:
            try:
                pool = await asyncio.wait_for(
                    asyncpg.create_pool(
                        self.settings.database_url,
                        min_size=1,
                        max_size=5,
                        command_timeout=self.settings.dependency_timeout_s * 5,
                    ),
                    timeout=10,
                )
                async with pool.acquire() as conn:
                    await conn.execute(SCHEMA)
                self.pool = pool
                self.last_error = ""
                log.info("postgres connected")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = str(exc) or type(exc).__name__
                delay = backoff.next()
                log.warning("postgres unreachable, retrying", extra={"error": self.last_error, "retry_in_s": round(delay, 2)})
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def check(self) -> tuple[bool, str]:
        if self.pool is None:
            return False, f"not connected: {self.last_error}"
        try:
            await self.breaker.call(
                lambda: asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=self.settings.dependency_timeout_s)
            )
        except Exception as exc:
            return False, str(exc) or type(exc).__name__
        return True, "connected"

    async def save_greeting(self, event: EventDict) -> bool:
        """Store the greeting; False (counted, logged) when the database is unavailable."""
        if not self.enabled:
            return True
        pool = self.pool
        if pool is None:
            self.failed_writes += 1
            return False
        payload = event["payload"]
        created = datetime.fromisoformat(event["occurredAt"].replace("Z", "+00:00"))

        async def write() -> None:
            await asyncio.wait_for(
                pool.execute(
                    "INSERT INTO greetings (event_id, name, message, created_at) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (event_id) DO NOTHING",
                    event["eventId"],
                    payload["name"],
                    payload["message"],
                    created,
                ),
                timeout=self.settings.dependency_timeout_s,
            )

        try:
            await retry(lambda: self.breaker.call(write), attempts=2, backoff=Backoff(base_s=0.05, cap_s=0.2))
        except Exception as exc:
            self.failed_writes += 1
            log.warning("storing the greeting failed", extra={"error": str(exc) or type(exc).__name__})
            return False
        return True

    async def count_greetings(self, name: str) -> int | None:
        if self.pool is None:
            return None
        try:
            return await self.breaker.call(
                lambda: asyncio.wait_for(
                    self.pool.fetchval("SELECT count(*) FROM greetings WHERE name = $1", name),
                    timeout=self.settings.dependency_timeout_s,
                )
            )
        except Exception:
            return None
