"""Kafka: publishing domain events and consuming them for the WebSocket
bridge. Nothing here may stop the API: connections are made in the
background with backoff, every send goes through a timeout, retries and a
circuit breaker, and events that cannot be sent wait in a bounded outbox
(and are delivered to local WebSocket clients at once)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from contextlib import suppress
from typing import Any

from .events import EventDict, EventHub, is_event
from .metrics import Metrics
from .resilience import Backoff, CircuitBreaker, CircuitOpenError, retry
from .settings import Settings

log = logging.getLogger("app.kafka")


class KafkaBridge:
    def __init__(self, settings: Settings, hub: EventHub, metrics: Metrics) -> None:
        self.settings = settings
        self.hub = hub
        self.metrics = metrics
        self.enabled = bool(settings.kafka_bootstrap_servers)
        self.breaker = CircuitBreaker(
            "kafka",
            failure_threshold=settings.breaker_failures,
            reset_timeout_s=settings.breaker_reset_s,
            on_change=metrics.breaker_changed,
        )
        self.outbox: deque[EventDict] = deque()
        self.dropped = 0
        self.producer: Any = None
        self.consumer_connected = False
        self.last_error = "not connected yet" if self.enabled else ""
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if not self.enabled:
            log.info("kafka disabled (KAFKA_BOOTSTRAP_SERVERS is empty); events stay in-process")
            return
        self._tasks = [
            asyncio.create_task(self._producer_loop(), name="kafka-producer"),
            asyncio.create_task(self._consumer_loop(), name="kafka-consumer"),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        producer, self.producer = self.producer, None
        if producer is not None:
            with suppress(Exception):
                await asyncio.wait_for(producer.flush(), timeout=5)
            with suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=5)
        if self.outbox:
            log.warning("stopping with %d unsent events in the outbox", len(self.outbox))

    # ------------------------------------------------------------ health
    def healthy(self) -> tuple[bool, str]:
        if self.producer is None:
            return False, f"not connected to {self.settings.kafka_bootstrap_servers}: {self.last_error}"
        if self.breaker.state == "open":
            return False, f"circuit open: {self.breaker.last_error}"
        return True, "connected"

    # ------------------------------------------------------------ publishing
    async def publish(self, event: EventDict) -> str:
        """Returns the outcome: published, queued, dropped or local."""
        if not self.enabled:
            self.hub.deliver(event)
            return self._count("local")
        if self.producer is None or not self.breaker.allow():
            return self._fallback(event)
        try:
            await retry(
                lambda: self.breaker.call(lambda: self._send(event)),
                attempts=3,
                backoff=Backoff(base_s=0.05, cap_s=0.3),
            )
        except CircuitOpenError:
            return self._fallback(event)
        except Exception as exc:
            self.last_error = str(exc) or type(exc).__name__
            log.warning("publishing to kafka failed: %s", self.last_error)
            return self._fallback(event)
        return self._count("published")

    async def _send(self, event: EventDict) -> None:
        producer = self.producer
        if producer is None:
            raise ConnectionError("kafka producer is not connected")
        await asyncio.wait_for(
            producer.send_and_wait(
                self.settings.kafka_topic,
                json.dumps(event).encode(),
                key=str(event["aggregateId"]).encode(),
            ),
            timeout=self.settings.dependency_timeout_s,
        )

    def _fallback(self, event: EventDict) -> str:
        # Local clients still see the event now; Kafka gets it once it is back.
        self.hub.deliver(event)
        if len(self.outbox) >= self.settings.outbox_size:
            self.outbox.popleft()
            self.dropped += 1
            self._count("dropped")
        self.outbox.append(event)
        return self._count("queued")

    def _count(self, outcome: str) -> str:
        self.metrics.domain_events.labels(outcome=outcome).inc()
        return outcome

    async def _drain_outbox(self) -> None:
        while self.outbox and self.producer is not None and self.breaker.allow():
            event = self.outbox[0]
            try:
                await self.breaker.call(lambda: self._send(event))
            except Exception:
                return
            self.outbox.popleft()
            self._count("published")

    # ------------------------------------------------------------ background loops
    async def _producer_loop(self) -> None:
        from aiokafka import AIOKafkaProducer

        backoff = Backoff(base_s=0.5, cap_s=15.0)
        while not self._stopping.is_set():
            if self.producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap_servers,
                    client_id=self.settings.service_name,
                    request_timeout_ms=int(max(self.settings.dependency_timeout_s, 1.0) * 5000),
                    acks="all",
                )
                try:
                    await asyncio.wait_for(producer.start(), timeout=10)
                except asyncio.CancelledError:
                    with suppress(Exception):
                        await producer.stop()
                    raise
                except Exception as exc:
                    self.last_error = str(exc) or type(exc).__name__
                    with suppress(Exception):
                        await producer.stop()
                    delay = backoff.next()
                    log.warning(
                        "kafka unreachable, retrying",
                        extra={"error": self.last_error, "retry_in_s": round(delay, 2)},
                    )
                    await self._sleep(delay)
                    continue
                self.producer = producer
                self.last_error = ""
                backoff.reset()
                log.info("kafka producer connected")
            await self._drain_outbox()
            await self._sleep(1.0)

    async def _consumer_loop(self) -> None:
        from aiokafka import AIOKafkaConsumer

        backoff = Backoff(base_s=0.5, cap_s=15.0)
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                self.settings.kafka_topic,
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                group_id=self.settings.kafka_group,
                client_id=self.settings.service_name + "-consumer",
                auto_offset_reset="latest",
                enable_auto_commit=True,
            )
            try:
                await asyncio.wait_for(consumer.start(), timeout=10)
                self.consumer_connected = True
                backoff.reset()
                async for message in consumer:
                    self._handle(message.value)
                    partition = consumer.assignment()
                    lag = 0
                    for tp in partition:
                        high = consumer.highwater(tp)
                        position = await consumer.position(tp)
                        if high is not None:
                            lag += max(0, high - position)
                    self.metrics.kafka_consumer_lag.set(lag)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("kafka consumer stopped, retrying", extra={"error": str(exc) or type(exc).__name__})
            finally:
                self.consumer_connected = False
                with suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), timeout=5)
            await self._sleep(backoff.next())

    def _handle(self, raw: bytes | None) -> None:
        if raw is None or len(raw) > 1_000_000:
            return
        try:
            event = json.loads(raw)
        except ValueError:
            log.warning("ignoring a message that is not JSON")
            return
        if is_event(event):
            self.hub.deliver(event)

    async def _sleep(self, seconds: float) -> None:
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
