import { useEffect } from 'react';
import { eventStreamUrl } from '@/lib/config';
import { useAppDispatch } from '@/store';
import { connectionChanged, eventReceived, isDomainEvent } from '@/store/eventsSlice';

const MAX_BACKOFF_MS = 15_000;

/** Keeps a WebSocket to /ws/events open (reconnecting with backoff) and feeds events into the store. */
export function useEventStream(url: string = eventStreamUrl()): void {
  const dispatch = useAppDispatch();

  useEffect(() => {
    let socket: WebSocket | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let stopped = false;

    const connect = () => {
      dispatch(connectionChanged('connecting'));
      socket = new WebSocket(url);
      socket.onopen = () => {
        attempt = 0;
        dispatch(connectionChanged('open'));
      };
      socket.onmessage = (message: MessageEvent) => {
        if (typeof message.data !== 'string') return;
        try {
          const parsed: unknown = JSON.parse(message.data);
          if (isDomainEvent(parsed)) dispatch(eventReceived(parsed));
        } catch {
          // Not JSON: ignore the frame.
        }
      };
      socket.onclose = () => {
        dispatch(connectionChanged('closed'));
        if (stopped) return;
        attempt += 1;
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (attempt - 1));
        retryTimer = setTimeout(connect, delay * (0.5 + Math.random() / 2));
      };
    };

    connect();
    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      socket?.close();
    };
  }, [dispatch, url]);
}
