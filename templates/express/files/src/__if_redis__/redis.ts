import Redis from 'ioredis';
import type { CountCache } from './deps';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { Guard, withTimeout } from './resilience';

/**
 * Counts greetings per name (INCR greetings:count:<name>) behind a breaker
 * with retries and timeouts. Commands fail fast while disconnected instead of
 * queueing, and the client reconnects in the background with backoff.
 */
export class RedisCache implements CountCache {
  private readonly client: Redis;
  private readonly guard: Guard;

  constructor(url: string, metrics: Metrics, private readonly log: Logger) {
    this.client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 1000,
      commandTimeout: 500,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(100 * 2 ** times, 10_000),
    });
    this.client.on('error', (err) => this.log.debug('redis connection error', { error: err }));
    this.client.connect().catch((err) => this.log.warn('redis not reachable yet', { error: err }));
    this.guard = new Guard('redis', metrics, {
      attempts: 3,
      baseDelayMs: 50,
      maxDelayMs: 500,
      attemptTimeoutMs: 1000,
    });
  }

  async increment(name: string): Promise<number> {
    return this.guard.run(() => this.client.incr(`greetings:count:${name}`));
  }

  async ping(): Promise<void> {
    await withTimeout(this.client.ping(), 2000);
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
