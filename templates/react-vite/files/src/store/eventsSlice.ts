import { createSlice, type PayloadAction } from '@reduxjs/toolkit';

/** The domain event every blissful-infra backend pushes on /ws/events. */
export interface DomainEvent {
  eventId: string;
  aggregateId: string;
  occurredAt: string;
  eventType: string;
  payload: { name: string; message: string };
}

export type ConnectionStatus = 'connecting' | 'open' | 'closed';

export interface EventsState {
  connection: ConnectionStatus;
  /** Newest first, at most MAX_EVENTS. */
  items: DomainEvent[];
  /** Events pushed out of the list because it was full. */
  evicted: number;
}

export const MAX_EVENTS = 50;

const initialState: EventsState = { connection: 'closed', items: [], evicted: 0 };

export function isDomainEvent(value: unknown): value is DomainEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const p = v.payload as Record<string, unknown> | null | undefined;
  return (
    typeof v.eventId === 'string' &&
    typeof v.aggregateId === 'string' &&
    typeof v.occurredAt === 'string' &&
    typeof v.eventType === 'string' &&
    typeof p === 'object' &&
    p !== null &&
    typeof p.name === 'string' &&
    typeof p.message === 'string'
  );
}

const eventsSlice = createSlice({
  name: 'events',
  initialState,
  reducers: {
    connectionChanged(state, action: PayloadAction<ConnectionStatus>) {
      state.connection = action.payload;
    },
    eventReceived(state, action: PayloadAction<DomainEvent>) {
      if (state.items.some((e) => e.eventId === action.payload.eventId)) return;
      state.items.unshift(action.payload);
      if (state.items.length > MAX_EVENTS) {
        state.evicted += state.items.length - MAX_EVENTS;
        state.items.length = MAX_EVENTS;
      }
    },
  },
});

export const { connectionChanged, eventReceived } = eventsSlice.actions;
export default eventsSlice.reducer;
