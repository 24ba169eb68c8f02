import { Pool } from 'pg';
import type { GreetingStore } from './deps';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { Guard, withTimeout } from './resilience';

const SCHEMA = `CREATE TABLE IF NOT EXISTS greetings (
  id         BIGSERIAL PRIMARY KEY,
  name       TEXT        NOT NULL,
  message    TEXT        NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

/**
 * Stores greetings. Every call goes through a breaker with retries and
 * timeouts; the table is created on first successful use, so the service
 * starts even when the database is down.
 */
export class PostgresStore implements GreetingStore {
  private readonly pool: Pool;
  private readonly guard: Guard;
  private migrated = false;

  constructor(url: string, metrics: Metrics, private readonly log: Logger) {
    this.pool = new Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: 1000,
      idleTimeoutMillis: 30_000,
      query_timeout: 1000,
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', (err) => this.log.warn('postgres pool error', { error: err }));
    this.guard = new Guard('postgres', metrics, {
      attempts: 3,
      baseDelayMs: 50,
      maxDelayMs: 500,
      attemptTimeoutMs: 1000,
    });
  }

  private async ensureSchema(): Promise<void> {
    if (!this.migrated) {
      await this.pool.query(SCHEMA);
      this.migrated = true;
    }
  }

  async save(name: string, message: string): Promise<void> {
    await this.guard.run(async () => {
      await this.ensureSchema();
      await this.pool.query('INSERT INTO greetings (name, message) VALUES ($1, $2)', [name, message]);
    });
  }

  async count(name: string): Promise<number> {
    return this.guard.run(async () => {
      await this.ensureSchema();
      const result = await this.pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM greetings WHERE name = $1',
        [name],
      );
      return Number(result.rows[0]?.n ?? 0);
    });
  }

  async ping(): Promise<void> {
    await withTimeout(this.pool.query('SELECT 1'), 2000);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
