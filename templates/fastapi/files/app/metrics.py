"""Prometheus metrics. The names are the same in every blissful-infra
template so the default dashboards and canary queries work unchanged."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

# No `*_created` series: they double the output and no dashboard uses them.
disable_created_metrics()

# Circuit breaker states as exported by `circuit_breaker_state`.
BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}


class Metrics:
    """One registry per application instance (tests create several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method and route.",
            ["method", "path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.websocket_connections = Gauge(
            "websocket_connections",
            "Open WebSocket connections on /ws/events.",
            registry=self.registry,
        )
        self.kafka_consumer_lag = Gauge(
            "kafka_consumer_lag",
            "Messages between the consumer's position and the end of the topic.",
            registry=self.registry,
        )
        self.circuit_breaker_state = Gauge(
            "circuit_breaker_state",
            "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
            ["dependency"],
            registry=self.registry,
        )
        self.domain_events = Counter(
            "domain_events_total",
            "Domain events by outcome: published, queued (Kafka down), dropped, local (Kafka disabled).",
            ["outcome"],
            registry=self.registry,
        )
        self.websocket_dropped = Counter(
            "websocket_events_dropped_total",
            "Events not sent to a WebSocket client whose queue was full.",
            registry=self.registry,
        )

    def breaker_changed(self, dependency: str, state: str) -> None:
        self.circuit_breaker_state.labels(dependency=dependency).set(BREAKER_VALUES[state])

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
