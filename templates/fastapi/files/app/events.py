"""Domain events and the in-process hub that fans them out to WebSocket
clients."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable

EventDict = dict[str, Any]

GREETING_CREATED = "greeting.created"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def greeting_created(name: str, message: str) -> EventDict:
    return {
        "eventId": str(uuid.uuid4()),
        "aggregateId": name,
        "occurredAt": now_rfc3339(),
        "eventType": GREETING_CREATED,
        "payload": {"name": name, "message": message},
    }


def is_event(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("eventId"), str)
        and isinstance(value.get("eventType"), str)
        and isinstance(value.get("payload"), dict)
    )


class EventHub:
    """Delivers each event once to every subscriber. Queues are bounded: a
    slow client loses its oldest events (counted), never the server's memory.
    Recently seen event ids are remembered so an event delivered locally
    while Kafka was down is not delivered again when it is consumed later."""

    def __init__(
        self,
        queue_size: int = 256,
        remember: int = 4096,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._subscribers: set[asyncio.Queue[EventDict]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._queue_size = queue_size
        self._remember = remember
        self._on_drop = on_drop
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue[EventDict]:
        queue: asyncio.Queue[EventDict] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[EventDict]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def deliver(self, event: EventDict) -> bool:
        """Fan out; False when the event was seen before."""
        event_id = event["eventId"]
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        for queue in list(self._subscribers):
            if queue.full():
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
                self.dropped += 1
                if self._on_drop:
                    self._on_drop()
            queue.put_nowait(event)
        return True
