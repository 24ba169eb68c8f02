import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis';
import { Logger } from '../../src/logger';
import { Metrics } from '../../src/metrics';
import { RedisCache } from '../../src/redis';

jest.setTimeout(120_000);

describe('RedisCache', () => {
  let container: StartedRedisContainer | undefined;
  let unavailable: string | undefined;

  beforeAll(async () => {
    try {
      container = await new RedisContainer('redis:7-alpine').start();
    } catch (err) {
      unavailable = err instanceof Error ? err.message : String(err);
    }
  });

  afterAll(async () => {
    await container?.stop();
  });

  it('counts greetings per name', async () => {
    if (!container) {
      console.warn(`skipped: Docker/Redis unavailable (${unavailable})`);
      return;
    }
    const cache = new RedisCache(container.getConnectionUrl(), new Metrics(false), new Logger('it', 'it', 'warn'));
    try {
      await cache.ping();
      expect(await cache.increment('Radia')).toBe(1);
      expect(await cache.increment('Radia')).toBe(2);
    } finally {
      await cache.close();
    }
  });
});
