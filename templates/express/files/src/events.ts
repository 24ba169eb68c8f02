import { randomUUID } from 'node:crypto';
import type { Metrics } from './metrics';

/** The domain event shared by every blissful-infra template. */
export interface DomainEvent {
  eventId: string;
  aggregateId: string;
  occurredAt: string;
  eventType: 'greeting.created';
  payload: { name: string; message: string };
}

export function greetingCreated(name: string, message: string): DomainEvent {
  return {
    eventId: randomUUID(),
    aggregateId: name,
    occurredAt: new Date().toISOString(),
    eventType: 'greeting.created',
    payload: { name, message },
  };
}

export function isDomainEvent(value: unknown): value is DomainEvent {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  const payload = v.payload as Record<string, unknown> | undefined;
  return (
    typeof v.eventId === 'string' &&
    typeof v.aggregateId === 'string' &&
    typeof v.occurredAt === 'string' &&
    v.eventType === 'greeting.created' &&
    typeof payload === 'object' &&
    payload !== null &&
    typeof payload.name === 'string' &&
    typeof payload.message === 'string'
  );
}

export type Subscriber = (frame: string) => void;

/** Fans consumed events out to WebSocket subscribers. */
export class Hub {
  private readonly subscribers = new Set<Subscriber>();

  constructor(private readonly metrics: Metrics) {}

  subscribe(subscriber: Subscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  broadcast(event: DomainEvent): void {
    const frame = JSON.stringify(event);
    for (const subscriber of this.subscribers) {
      try {
        subscriber(frame);
      } catch {
        this.metrics.eventsDropped.inc({ reason: 'websocket_send_failed' });
      }
    }
  }

  get size(): number {
    return this.subscribers.size;
  }
}

/** Accepts events without ever blocking or failing the request. */
export interface EventBus {
  publish(event: DomainEvent): void;
  start(): Promise<void>;
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Used when KAFKA_BOOTSTRAP_SERVERS is unset: events go straight to the hub. */
export class LocalBus implements EventBus {
  constructor(
    private readonly hub: Hub,
    private readonly metrics: Metrics,
  ) {}

  publish(event: DomainEvent): void {
    this.metrics.eventsPublished.inc();
    this.hub.broadcast(event);
  }
  async start(): Promise<void> {}
  async ready(): Promise<void> {}
  async close(): Promise<void> {}
}
