import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { WebSocket } from 'ws';
import { attachEventStream } from '../src/ws';
import { buildTestApp } from './helpers';

describe('WS /ws/events', () => {
  let server: Server;
  let closeStreams: () => void;
  let ctx: ReturnType<typeof buildTestApp>;

  beforeEach(async () => {
    ctx = buildTestApp();
    server = createServer(ctx.app);
    closeStreams = attachEventStream(server, ctx.hub, ctx.metrics, ctx.log);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    closeStreams();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('pushes greeting events as JSON text frames', async () => {
    const { port } = server.address() as AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/events`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const frame = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    await request(server).get('/hello/Margaret').expect(200);
    const event = JSON.parse(await frame) as Record<string, unknown>;
    expect(event).toMatchObject({ eventType: 'greeting.created', payload: { name: 'Margaret' } });
    expect((await ctx.metrics.registry.getSingleMetricAsString('websocket_connections')).trim()).toMatch(
      /websocket_connections 1$/,
    );
    ws.close();
  });

  it('refuses upgrades on other paths', async () => {
    const { port } = server.address() as AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`);
    await expect(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      }),
    ).rejects.toThrow(/404/);
  });
});
