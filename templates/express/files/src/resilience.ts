import type { Metrics } from './metrics';

export class BreakerOpenError extends Error {
  constructor(dependency: string) {
    super(`circuit breaker for ${dependency} is open`);
    this.name = 'BreakerOpenError';
  }
}

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** Values match the circuit_breaker_state gauge. */
export enum BreakerState {
  Closed = 0,
  HalfOpen = 1,
  Open = 2,
}

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  now?: () => number;
  onStateChange?: (state: BreakerState) => void;
}

/**
 * Consecutive-failure circuit breaker: after failureThreshold failures in a
 * row it opens for openMs, then lets one trial call through (half-open); a
 * success closes it, a failure opens it again.
 */
export class CircuitBreaker {
  private current = BreakerState.Closed;
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    private readonly options: BreakerOptions,
  ) {
    this.now = options.now ?? Date.now;
    options.onStateChange?.(BreakerState.Closed);
  }

  get state(): BreakerState {
    this.refresh();
    return this.current;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.refresh();
    if (this.current === BreakerState.Open) {
      throw new BreakerOpenError(this.name);
    }
    if (this.current === BreakerState.HalfOpen) {
      if (this.trialInFlight) {
        throw new BreakerOpenError(this.name);
      }
      this.trialInFlight = true;
    }
    try {
      const result = await fn();
      this.failures = 0;
      this.trialInFlight = false;
      this.set(BreakerState.Closed);
      return result;
    } catch (err) {
      this.failures += 1;
      if (this.current === BreakerState.HalfOpen || this.failures >= this.options.failureThreshold) {
        this.openedAt = this.now();
        this.set(BreakerState.Open);
      }
      this.trialInFlight = false;
      throw err;
    }
  }

  private refresh(): void {
    if (this.current === BreakerState.Open && this.now() - this.openedAt >= this.options.openMs) {
      this.trialInFlight = false;
      this.set(BreakerState.HalfOpen);
    }
  }

  private set(state: BreakerState): void {
    if (state !== this.current) {
      this.current = state;
      this.options.onStateChange?.(state);
    }
  }
}

/** Rejects with TimeoutError when the promise does not settle within ms. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  attemptTimeoutMs: number;
}

/** A delay that does not keep the process alive on its own. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** Exponential backoff with full jitter. */
export function backoffMs(policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(Math.random() * ceiling) + 1;
}

/** Calls fn until it succeeds or the attempts are used up; each attempt has a timeout. */
export async function retry<T>(policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  let lastError: unknown;
  const attempts = Math.max(1, policy.attempts);
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (attempt > 0) {
      await sleep(backoffMs(policy, attempt));
    }
    try {
      return await withTimeout(fn(), policy.attemptTimeoutMs);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** A breaker around a retried operation, reporting to the standard metrics. */
export class Guard {
  readonly breaker: CircuitBreaker;

  constructor(
    readonly dependency: string,
    private readonly metrics: Metrics,
    private readonly policy: RetryPolicy,
    breakerOptions: Partial<BreakerOptions> = {},
  ) {
    this.breaker = new CircuitBreaker(dependency, {
      failureThreshold: 5,
      openMs: 15_000,
      ...breakerOptions,
      onStateChange: (state) => metrics.circuitBreakerState.set({ dependency }, state),
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.run(() => retry(this.policy, fn));
    } catch (err) {
      this.metrics.dependencyFailures.inc({ dependency: this.dependency });
      throw err;
    }
  }
}
