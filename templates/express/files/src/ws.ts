import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Hub } from './events';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

export const WS_PATH = '/ws/events';
const PING_INTERVAL_MS = 30_000;
/** A client this far behind is skipped (and the drop counted) rather than buffered. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Serves WS /ws/events on the HTTP server: every consumed domain event is
 * pushed to each client as a JSON text frame. Returns a function that closes
 * every connection (used on shutdown).
 */
export function attachEventStream(server: Server, hub: Hub, metrics: Metrics, log: Logger): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const alive = new WeakMap<WebSocket, boolean>();

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== WS_PATH) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    metrics.websocketConnections.inc();
    alive.set(ws, true);
    const unsubscribe = hub.subscribe((frame) => {
      if (ws.readyState !== WebSocket.OPEN) {
        return;
      }
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        metrics.eventsDropped.inc({ reason: 'slow_websocket_client' });
        return;
      }
      ws.send(frame);
    });
    ws.on('pong', () => alive.set(ws, true));
    ws.on('error', (err) => log.debug('websocket error', { error: err }));
    ws.on('close', () => {
      unsubscribe();
      metrics.websocketConnections.dec();
    });
  });

  const ping = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, PING_INTERVAL_MS);
  ping.unref();

  return () => {
    clearInterval(ping);
    for (const ws of wss.clients) {
      ws.close(1001, 'shutting down');
    }
    wss.close();
  };
}
