import request from 'supertest';
import { MAX_NAME_LENGTH } from '../src/app';
import { buildTestApp, noDeps, RecordingBus, testConfig } from './helpers';

describe('standard endpoints', () => {
  it.each([
    ['/health', { status: 'ok' }],
    ['/live', { status: 'alive' }],
    ['/hello', { message: 'Hello, World!' }],
    ['/hello/Ada', { message: 'Hello, Ada!' }],
    ['/hello/Grace%20Hopper', { message: 'Hello, Grace Hopper!' }],
  ])('GET %s', async (path, body) => {
    const { app } = buildTestApp();
    const res = await request(app).get(path);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual(body);
  });

  it('publishes greeting.created for GET /hello/:name', async () => {
    const bus = new RecordingBus();
    const { app } = buildTestApp({ bus });
    await request(app).get('/hello/Linus').expect(200);
    expect(bus.events).toHaveLength(1);
    const [event] = bus.events;
    expect(event).toMatchObject({
      aggregateId: 'Linus',
      eventType: 'greeting.created',
      payload: { name: 'Linus', message: 'Hello, Linus!' },
    });
    expect(event.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(event.occurredAt).toISOString()).toBe(event.occurredAt);
  });

  it('rejects an overlong name without publishing', async () => {
    const bus = new RecordingBus();
    const { app } = buildTestApp({ bus });
    await request(app).get(`/hello/${'a'.repeat(MAX_NAME_LENGTH + 1)}`).expect(400);
    expect(bus.events).toHaveLength(0);
  });

  it('echoes a JSON body and rejects anything else', async () => {
    const { app } = buildTestApp();
    const payload = '{"a":1,"nested":{"b":[true,null,"x"]}}';
    const res = await request(app).post('/echo').set('Content-Type', 'application/json').send(payload);
    expect(res.status).toBe(200);
    expect(res.text).toBe(payload);
    await request(app).post('/echo').set('Content-Type', 'text/plain').send('not json').expect(400);
  });

  it('echoes or generates X-Request-Id and logs it', async () => {
    const { app, lines } = buildTestApp();
    const res = await request(app).get('/hello/log').set('X-Request-Id', 'req-123');
    expect(res.headers['x-request-id']).toBe('req-123');
    const generated = await request(app).get('/hello');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      for (const key of ['ts', 'level', 'msg', 'service', 'version']) {
        expect(entry).toHaveProperty(key);
      }
    }
    expect(entries.some((e) => e.request_id === 'req-123' && e.trace_id === 'req-123')).toBe(true);
  });

  it('exposes the standard metric names', async () => {
    const { app, metrics } = buildTestApp();
    metrics.circuitBreakerState.set({ dependency: 'kafka' }, 0);
    await request(app).get('/hello/metrics').expect(200);
    const res = await request(app).get('/metrics').expect(200);
    expect(res.text).toContain('http_requests_total{method="GET",path="/hello/:name",status="200"} 1');
    expect(res.text).toMatch(/^http_request_duration_seconds_bucket\{[^}]*path="\/hello\/:name"[^}]*\} 1$/m);
    expect(res.text).toContain('websocket_connections 0');
    expect(res.text).toContain('kafka_consumer_lag 0');
    expect(res.text).toContain('circuit_breaker_state{dependency="kafka"} 0');
  });
});

describe('readiness and liveness', () => {
  it('names the failed dependency and keeps /live at 200', async () => {
    const deps = noDeps({
      checks: [
        { name: 'postgres', check: async () => undefined },
        {
          name: 'redis',
          check: async () => {
            throw new Error('connection refused');
          },
        },
      ],
    });
    const { app } = buildTestApp({ deps });
    const res = await request(app).get('/ready');
    expect(res.status).toBe(503);
    expect(res.body.failed).toEqual(['redis']);
    await request(app).get('/live').expect(200);
  });

  it('checks Kafka only when it is configured', async () => {
    const bus = new RecordingBus();
    bus.readyError = new Error('no broker');
    await request(buildTestApp({ bus }).app).get('/ready').expect(200);
    const withKafka = buildTestApp({ bus, config: testConfig({ kafkaBrokers: ['127.0.0.1:1'] }) });
    const res = await request(withKafka.app).get('/ready');
    expect(res.status).toBe(503);
    expect(res.body.failed).toEqual(['kafka']);
    const draining = buildTestApp();
    await request(draining.app).get('/ready').expect(200);
    draining.control.setDraining();
    const res2 = await request(draining.app).get('/ready');
    expect(res2.status).toBe(503);
    expect(res2.body.failed).toEqual(['shutting-down']);
  });

  it('answers the greeting when the store fails', async () => {
    const bus = new RecordingBus();
    let calls = 0;
    const deps = noDeps({
      store: {
        save: async () => {
          calls += 1;
          throw new Error('database is down');
        },
      },
    });
    const { app } = buildTestApp({ bus, deps });
    const res = await request(app).get('/hello/Barbara');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Hello, Barbara!' });
    expect(calls).toBe(1);
    expect(bus.events).toHaveLength(1);
  });
});
