import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogLevel } from './config';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

interface RequestContext {
  requestId: string;
}

const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs fn with a request id that every log line written inside carries. */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return requestContext.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

export type LogFields = Record<string, unknown>;

/** One JSON object per line: ts, level, msg, service, version, request_id/trace_id. */
export class Logger {
  constructor(
    private readonly service: string,
    private readonly version: string,
    private readonly level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
  ) {}

  debug(msg: string, fields: LogFields = {}): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields: LogFields = {}): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields: LogFields = {}): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields: LogFields): void {
    if (ORDER[level] < ORDER[this.level]) {
      return;
    }
    const entry: LogFields = {
      ...normalise(fields),
      ts: new Date().toISOString(),
      level,
      msg,
      service: this.service,
      version: this.version,
    };
    const requestId = currentRequestId();
    if (requestId) {
      entry.request_id = requestId;
      entry.trace_id = requestId;
    }
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ ts: entry.ts, level: 'error', msg: 'log entry could not be encoded' });
    }
    this.write(`${line}\n`);
  }
}

function normalise(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? value.message : value;
  }
  return out;
}
