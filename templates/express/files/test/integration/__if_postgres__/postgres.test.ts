import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql';
import { Logger } from '../../src/logger';
import { Metrics } from '../../src/metrics';
import { PostgresStore } from '../../src/postgres';

jest.setTimeout(120_000);

describe('PostgresStore', () => {
  let container: StartedPostgreSqlContainer | undefined;
  let unavailable: string | undefined;

  beforeAll(async () => {
    try {
      container = await new PostgreSqlContainer('postgres:16-alpine').start();
    } catch (err) {
      unavailable = err instanceof Error ? err.message : String(err);
    }
  });

  afterAll(async () => {
    await container?.stop();
  });

  it('stores greetings', async () => {
    if (!container) {
      console.warn(`skipped: Docker/Postgres unavailable (${unavailable})`);
      return;
    }
    const store = new PostgresStore(container.getConnectionUri(), new Metrics(false), new Logger('it', 'it', 'warn'));
    try {
      await store.ping();
      await store.save('Edsger', 'Hello, Edsger!');
      await store.save('Edsger', 'Hello, Edsger!');
      expect(await store.count('Edsger')).toBe(2);
    } finally {
      await store.close();
    }
  });
});
