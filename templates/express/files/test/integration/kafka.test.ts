// Integration test against real Kafka in Docker via Testcontainers (part of
// `npm test`; alone: `npm run test:integration`). Each test returns early,
// with a warning, when Docker is unavailable.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KafkaContainer, type StartedKafkaContainer } from '@testcontainers/kafka';
import request from 'supertest';
import { WebSocket } from 'ws';
import { createApp } from '../../src/app';
import { Hub } from '../../src/events';
import { KafkaBus } from '../../src/kafka';
import { Logger } from '../../src/logger';
import { Metrics } from '../../src/metrics';
import { attachEventStream } from '../../src/ws';
import { noDeps, testConfig } from '../helpers';

jest.setTimeout(180_000);

describe('Kafka round trip', () => {
  let container: StartedKafkaContainer | undefined;
  let unavailable: string | undefined;

  beforeAll(async () => {
    try {
      container = await new KafkaContainer('confluentinc/cp-kafka:7.5.0').withExposedPorts(9093).start();
    } catch (err) {
      unavailable = err instanceof Error ? err.message : String(err);
    }
  });

  afterAll(async () => {
    await container?.stop();
  });

  it('bridges greeting events from Kafka to WebSocket clients', async () => {
    if (!container) {
      console.warn(`skipped: Docker/Kafka unavailable (${unavailable})`);
      return;
    }
    const brokers = [`${container.getHost()}:${container.getMappedPort(9093)}`];
    const metrics = new Metrics(false);
    const hub = new Hub(metrics);
    const log = new Logger('it', 'it', 'warn');
    const bus = new KafkaBus(brokers, hub, metrics, log);
    await bus.start();
    const { app } = createApp({ config: testConfig({ kafkaBrokers: brokers }), log, metrics, bus, deps: noDeps() });
    const server: Server = createServer(app);
    const closeStreams = attachEventStream(server, hub, metrics, log);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/events`);
      const received = new Promise<Record<string, unknown>>((resolve) =>
        ws.on('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>)),
      );
      // The consumer group joins asynchronously and starts at the newest
      // offset, so keep greeting until an event comes back through Kafka.
      let event: Record<string, unknown> | undefined;
      for (let i = 0; i < 45 && !event; i += 1) {
        await request(app).get('/hello/Kafka').expect(200);
        event = await Promise.race([
          received,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000)),
        ]);
      }
      expect(event).toMatchObject({ eventType: 'greeting.created', payload: { name: 'Kafka' } });
      await request(app).get('/ready').expect(200);
      ws.close();
    } finally {
      closeStreams();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await bus.close();
    }
  });
});
