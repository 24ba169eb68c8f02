import { describe, expect, it } from 'vitest';
import events, { eventReceived, MAX_EVENTS, type DomainEvent } from './eventsSlice';
import greeting, { fetchGreeting } from './greetingSlice';

const event = (i: number): DomainEvent => ({
  eventId: `id-${i}`,
  aggregateId: `n${i}`,
  occurredAt: new Date(0).toISOString(),
  eventType: 'greeting.created',
  payload: { name: `n${i}`, message: `Hello, n${i}!` },
});

describe('events slice', () => {
  it('keeps the newest events first, bounded, and counts what it evicts', () => {
    let state = events(undefined, { type: 'init' });
    for (let i = 0; i < MAX_EVENTS + 3; i += 1) {
      state = events(state, eventReceived(event(i)));
    }
    expect(state.items).toHaveLength(MAX_EVENTS);
    expect(state.items[0].eventId).toBe(`id-${MAX_EVENTS + 2}`);
    expect(state.evicted).toBe(3);
  });

  it('ignores an event it already has', () => {
    let state = events(undefined, eventReceived(event(1)));
    state = events(state, eventReceived(event(1)));
    expect(state.items).toHaveLength(1);
  });
});

describe('greeting slice', () => {
  it('stores the message on success and the error on failure', () => {
    const loading = greeting(undefined, fetchGreeting.pending('req', 'Ada'));
    expect(loading.status).toBe('loading');
    const done = greeting(loading, fetchGreeting.fulfilled('Hello, Ada!', 'req', 'Ada'));
    expect(done).toMatchObject({ status: 'succeeded', message: 'Hello, Ada!' });
    const failed = greeting(done, fetchGreeting.rejected(null, 'req', 'Ada', 'The backend answered 503'));
    expect(failed).toMatchObject({ status: 'failed', error: 'The backend answered 503' });
  });
});
