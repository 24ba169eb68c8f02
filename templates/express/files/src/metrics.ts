import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Collectors with the names every blissful-infra template exposes. */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequestsTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status code.',
    labelNames: ['method', 'path', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method and route.',
    labelNames: ['method', 'path'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly websocketConnections = new Gauge({
    name: 'websocket_connections',
    help: 'Open WebSocket connections on /ws/events.',
    registers: [this.registry],
  });

  readonly kafkaConsumerLag = new Gauge({
    name: 'kafka_consumer_lag',
    help: 'Messages behind the end of the greetings topic.',
    registers: [this.registry],
  });

  readonly circuitBreakerState = new Gauge({
    name: 'circuit_breaker_state',
    help: 'Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  readonly eventsPublished = new Counter({
    name: 'domain_events_published_total',
    help: 'Domain events handed to Kafka (or the in-process bus).',
    registers: [this.registry],
  });

  readonly eventsDropped = new Counter({
    name: 'domain_events_dropped_total',
    help: 'Domain events that could not be delivered, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly dependencyFailures = new Counter({
    name: 'dependency_failures_total',
    help: 'Failed calls to a dependency after retries, or refused by an open breaker.',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  constructor(collectDefaults = true) {
    this.kafkaConsumerLag.set(0);
    this.websocketConnections.set(0);
    if (collectDefaults) {
      collectDefaultMetrics({ register: this.registry });
    }
  }
}
