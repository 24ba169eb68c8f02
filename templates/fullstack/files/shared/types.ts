// Shapes of the backend API, shared with the frontend.

export interface HealthResponse {
  status: 'ok';
}

export interface ReadyCheck {
  ok: boolean;
  detail: string;
}

export interface ReadyResponse {
  status: 'ready' | 'unavailable';
  checks: Record<string, ReadyCheck>;
  /** Dependencies that failed; present only with HTTP 503. */
  failed?: string[];
}

export interface HelloResponse {
  message: string;
}

export interface GreetingPayload {
  name: string;
  message: string;
}

/** An event on the Kafka topic `greetings`, pushed to `WS /ws/events`. */
export interface DomainEvent<P = GreetingPayload> {
  eventId: string;
  aggregateId: string;
  /** RFC 3339 */
  occurredAt: string;
  eventType: 'greeting.created' | string;
  payload: P;
}

export const GREETING_CREATED = 'greeting.created';

export function isDomainEvent(value: unknown): value is DomainEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.eventId === 'string' &&
    typeof v.aggregateId === 'string' &&
    typeof v.occurredAt === 'string' &&
    typeof v.eventType === 'string' &&
    typeof v.payload === 'object' &&
    v.payload !== null
  );
}
