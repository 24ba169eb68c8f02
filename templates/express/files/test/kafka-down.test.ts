import request from 'supertest';
import { Hub } from '../src/events';
import { KafkaBus } from '../src/kafka';
import { Logger } from '../src/logger';
import { Metrics } from '../src/metrics';
import { createApp } from '../src/app';
import { noDeps, testConfig } from './helpers';

// A broker address nobody listens on: the API must keep answering quickly,
// /ready must name Kafka, and close() must not hang.
describe('Kafka unavailable', () => {
  it('keeps the API answering', async () => {
    const metrics = new Metrics(false);
    const log = new Logger('test-service', 'v-test', 'error', () => undefined);
    const bus = new KafkaBus(['127.0.0.1:1'], new Hub(metrics), metrics, log);
    await bus.start();
    const { app } = createApp({
      config: testConfig({ kafkaBrokers: ['127.0.0.1:1'] }),
      log,
      metrics,
      bus,
      deps: noDeps(),
    });
    try {
      for (let i = 0; i < 10; i += 1) {
        const started = Date.now();
        await request(app).get('/hello/offline').expect(200);
        expect(Date.now() - started).toBeLessThan(1000);
      }
      const ready = await request(app).get('/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.failed).toEqual(['kafka']);
    } finally {
      await bus.close();
    }
  }, 30_000);
});
