import { createApp } from '../src/app';
import type { Config } from '../src/config';
import type { Dependencies } from '../src/deps';
import { Hub, LocalBus, type DomainEvent, type EventBus } from '../src/events';
import { Logger } from '../src/logger';
import { Metrics } from '../src/metrics';

export class RecordingBus implements EventBus {
  readonly events: DomainEvent[] = [];
  readyError: Error | undefined;
  publish(event: DomainEvent): void {
    this.events.push(event);
  }
  async start(): Promise<void> {}
  async ready(): Promise<void> {
    if (this.readyError) {
      throw this.readyError;
    }
  }
  async close(): Promise<void> {}
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    port: 0,
    kafkaBrokers: [],
    databaseUrl: '',
    redisUrl: '',
    logLevel: 'debug',
    version: 'v-test',
    shutdownGraceMs: 1000,
    ...overrides,
  };
}

export function noDeps(overrides: Partial<Dependencies> = {}): Dependencies {
  return { checks: [], close: async () => undefined, ...overrides };
}

export function buildTestApp(
  options: { config?: Config; bus?: EventBus; deps?: Dependencies } = {},
) {
  const lines: string[] = [];
  const metrics = new Metrics(false);
  const hub = new Hub(metrics);
  const log = new Logger('test-service', 'v-test', 'debug', (line) => lines.push(line));
  const bus = options.bus ?? new LocalBus(hub, metrics);
  const { app, control } = createApp({
    config: options.config ?? testConfig(),
    log,
    metrics,
    bus,
    deps: options.deps ?? noDeps(),
  });
  return { app, control, metrics, hub, log, lines, bus };
}
