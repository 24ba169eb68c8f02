import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from './config';
import { kafkaEnabled } from './config';
import type { Dependencies, ReadinessCheck } from './deps';
import { greetingCreated, type EventBus } from './events';
import { withRequestId, type Logger } from './logger';
import type { Metrics } from './metrics';
import { withTimeout } from './resilience';

export const MAX_NAME_LENGTH = 200;
const MAX_ECHO_BYTES = 1024 * 1024;
/** How long a greeting waits for Postgres/Redis, retries included, before it is answered without them. */
const STORE_BUDGET_MS = 1500;
const QUIET_PATHS = new Set(['/metrics', '/live', '/ready', '/health']);
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AppContext {
  config: Config;
  log: Logger;
  metrics: Metrics;
  bus: EventBus;
  deps: Dependencies;
}

export interface AppControl {
  /** Makes /ready answer 503 while the service shuts down. */
  setDraining(): void;
}

function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? `${req.baseUrl}${route.path}` : 'unmatched';
}

export function createApp(ctx: AppContext): { app: express.Express; control: AppControl } {
  const { config, log, metrics, bus, deps } = ctx;
  let draining = false;
  const app = express();
  app.disable('x-powered-by');

  // Request id: taken from X-Request-Id when it looks sane, else generated;
  // echoed in the response and attached to every log line of the request.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id') ?? '';
    const requestId = VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const path = routeLabel(req);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpRequestsTotal.inc({ method: req.method, path, status: String(res.statusCode) });
      metrics.httpRequestDuration.observe({ method: req.method, path }, seconds);
      if (!QUIET_PATHS.has(path)) {
        withRequestId(requestId, () =>
          log.info('request', {
            method: req.method,
            path,
            status: res.statusCode,
            duration_ms: Math.round(seconds * 1e6) / 1e3,
          }),
        );
      }
    });
    withRequestId(requestId, () => next());
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Liveness never looks at dependencies: restarting would not fix them.
  app.get('/live', (_req, res) => {
    res.json({ status: 'alive' });
  });

  app.get('/ready', async (_req, res) => {
    if (draining) {
      res.status(503).json({ status: 'unavailable', failed: ['shutting-down'] });
      return;
    }
    const checks: ReadinessCheck[] = [...deps.checks];
    if (kafkaEnabled(config)) {
      checks.push({ name: 'kafka', check: () => bus.ready() });
    }
    const outcomes = await Promise.all(
      checks.map(async (c) => {
        try {
          await withTimeout(c.check(), 3000);
          return [c.name, 'ok'] as const;
        } catch (err) {
          return [c.name, err instanceof Error ? err.message : String(err)] as const;
        }
      }),
    );
    const results = Object.fromEntries(outcomes);
    const failed = outcomes.filter(([, outcome]) => outcome !== 'ok').map(([name]) => name);
    if (failed.length > 0) {
      log.warn('not ready', { failed });
      res.status(503).json({ status: 'unavailable', failed, checks: results });
      return;
    }
    res.json({ status: 'ready', checks: results });
  });

  app.get('/hello', (_req, res) => {
    res.json({ message: 'Hello, World!' });
  });

  app.get('/hello/:name', async (req, res) => {
    const name = req.params.name ?? '';
    if (name.length === 0 || [...name].length > MAX_NAME_LENGTH) {
      res.status(400).json({ error: `name must be 1 to ${MAX_NAME_LENGTH} characters` });
      return;
    }
    const message = `Hello, ${name}!`;
    // Fallback: the greeting is answered even when it cannot be stored or counted.
    if (deps.store) {
      try {
        await withTimeout(deps.store.save(name, message), STORE_BUDGET_MS);
      } catch (err) {
        log.warn('greeting not stored', { error: err });
      }
    }
    if (deps.cache) {
      try {
        const count = await withTimeout(deps.cache.increment(name), STORE_BUDGET_MS);
        res.setHeader('X-Greeting-Count', String(count));
      } catch (err) {
        log.warn('greeting not counted', { error: err });
      }
    }
    bus.publish(greetingCreated(name, message));
    res.json({ message });
  });

  app.post(
    '/echo',
    express.raw({ type: () => true, limit: MAX_ECHO_BYTES }),
    (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        JSON.parse(body.toString('utf8'));
      } catch {
        res.status(400).json({ error: 'body must be JSON' });
        return;
      }
      res.type('application/json').send(body);
    },
  );

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  // Errors from body parsing (too large) and anything thrown by a handler.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const candidate = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
    const status = typeof candidate === 'number' && candidate >= 400 && candidate < 600 ? candidate : 500;
    if (status >= 500) {
      log.error('unhandled error', { error: err instanceof Error ? err.message : String(err) });
    }
    res.status(status).json({ error: status === 413 ? 'body too large' : 'request failed' });
  });

  return {
    app,
    control: {
      setDraining: () => {
        draining = true;
      },
    },
  };
}
