import { act, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Provider } from 'react-redux';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App';
import { makeStore } from './store';

/** Stands in for the browser WebSocket so tests can push frames. */
class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }
  open() {
    this.onopen?.();
  }
  push(data: unknown) {
    this.onmessage?.({ data: JSON.stringify(data) } as MessageEvent);
  }
  close() {
    this.closed = true;
  }
}

function renderApp() {
  return render(
    <Provider store={makeStore()}>
      <App />
    </Provider>,
  );
}

describe('App', () => {
  beforeEach(() => {
    FakeWebSocket.instances = [];
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('greets through GET /hello/:name', async () => {
    const fetchMock = vi.fn().mockResolvedValue(
      new Response(JSON.stringify({ message: 'Hello, Ada Lovelace!' }), {
        status: 200,
        headers: { 'Content-Type': 'application/json' },
      }),
    );
    vi.stubGlobal('fetch', fetchMock);
    renderApp();
    await userEvent.type(screen.getByLabelText('Name'), 'Ada Lovelace');
    await userEvent.click(screen.getByRole('button', { name: 'Greet' }));
    expect(await screen.findByRole('status')).toHaveTextContent('Hello, Ada Lovelace!');
    expect(fetchMock).toHaveBeenCalledWith('/hello/Ada%20Lovelace', expect.anything());
  });

  it('shows an error when the backend fails', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(new Response('', { status: 503 })));
    renderApp();
    await userEvent.type(screen.getByLabelText('Name'), 'Bob');
    await userEvent.click(screen.getByRole('button', { name: 'Greet' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('503');
  });

  it('shows live events from /ws/events', async () => {
    renderApp();
    const socket = FakeWebSocket.instances.at(-1);
    expect(socket?.url).toMatch(/\/ws\/events$/);
    act(() => socket?.open());
    expect(screen.getByTestId('connection')).toHaveTextContent('Live');
    act(() =>
      socket?.push({
        eventId: '9d2f6c1e-0000-4000-8000-000000000001',
        aggregateId: 'Grace',
        occurredAt: '2024-01-01T12:00:00Z',
        eventType: 'greeting.created',
        payload: { name: 'Grace', message: 'Hello, Grace!' },
      }),
    );
    expect(await screen.findByText('Hello, Grace!')).toBeInTheDocument();
    act(() => socket?.push({ not: 'an event' }));
    expect(screen.getAllByRole('listitem')).toHaveLength(1);
  });
});
