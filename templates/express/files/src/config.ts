export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Settings read once from the environment; names shared by every template. */
export interface Config {
  port: number;
  /** Empty: Kafka disabled, events stay in-process. */
  kafkaBrokers: string[];
  databaseUrl: string;
  redisUrl: string;
  logLevel: LogLevel;
  version: string;
  shutdownGraceMs: number;
}

function intFromEnv(value: string | undefined, fallback: number): number {
  const parsed = Number.parseInt((value ?? '').trim(), 10);
  return Number.isFinite(parsed) && parsed >= 0 ? parsed : fallback;
}

export function parseLogLevel(raw: string | undefined): LogLevel {
  switch ((raw ?? '').trim().toLowerCase()) {
    case 'debug':
    case 'trace':
      return 'debug';
    case 'warn':
    case 'warning':
      return 'warn';
    case 'error':
      return 'error';
    default:
      return 'info';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: intFromEnv(env.PORT, 3000),
    kafkaBrokers: (env.KAFKA_BOOTSTRAP_SERVERS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    databaseUrl: (env.DATABASE_URL ?? '').trim(),
    redisUrl: (env.REDIS_URL ?? '').trim(),
    logLevel: parseLogLevel(env.LOG_LEVEL),
    version: (env.SERVICE_VERSION || env.VERSION || 'dev').trim(),
    shutdownGraceMs: intFromEnv(env.SHUTDOWN_GRACE_SECONDS, 10) * 1000,
  };
}

export function kafkaEnabled(config: Config): boolean {
  return config.kafkaBrokers.length > 0;
}
