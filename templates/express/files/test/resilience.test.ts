import { Metrics } from '../src/metrics';
import { BreakerOpenError, BreakerState, CircuitBreaker, Guard, retry, TimeoutError } from '../src/resilience';

describe('CircuitBreaker', () => {
  it('opens after the threshold, half-opens after the open period and closes on success', async () => {
    let now = 1_000_000;
    const transitions: BreakerState[] = [];
    const breaker = new CircuitBreaker('dep', {
      failureThreshold: 3,
      openMs: 10_000,
      now: () => now,
      onStateChange: (s) => transitions.push(s),
    });
    let calls = 0;
    const failing = async (): Promise<void> => {
      calls += 1;
      throw new Error('boom');
    };
    for (let i = 0; i < 3; i += 1) {
      await expect(breaker.run(failing)).rejects.toThrow('boom');
    }
    expect(breaker.state).toBe(BreakerState.Open);
    await expect(breaker.run(failing)).rejects.toBeInstanceOf(BreakerOpenError);
    expect(calls).toBe(3);

    now += 10_000;
    expect(breaker.state).toBe(BreakerState.HalfOpen);
    await expect(breaker.run(failing)).rejects.toThrow('boom');
    expect(breaker.state).toBe(BreakerState.Open);

    now += 10_000;
    await expect(breaker.run(async () => 'ok')).resolves.toBe('ok');
    expect(breaker.state).toBe(BreakerState.Closed);
    expect(transitions).toEqual([
      BreakerState.Closed,
      BreakerState.Open,
      BreakerState.HalfOpen,
      BreakerState.Open,
      BreakerState.HalfOpen,
      BreakerState.Closed,
    ]);
  });
});

describe('retry', () => {
  const policy = { attempts: 4, baseDelayMs: 1, maxDelayMs: 4, attemptTimeoutMs: 50 };

  it('retries until success', async () => {
    let calls = 0;
    const result = await retry(policy, async () => {
      calls += 1;
      if (calls < 3) {
        throw new Error('transient');
      }
      return 'done';
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('gives up after the attempts and times out hung attempts', async () => {
    let calls = 0;
    await expect(
      retry(policy, () => {
        calls += 1;
        return new Promise<never>(() => undefined);
      }),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(calls).toBe(4);
  });
});

describe('Guard', () => {
  it('reports the breaker state and failures as metrics', async () => {
    const metrics = new Metrics(false);
    const guard = new Guard('postgres', metrics, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, attemptTimeoutMs: 50 }, {
      failureThreshold: 1,
    });
    await expect(guard.run(async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    const text = await metrics.registry.metrics();
    expect(text).toContain('circuit_breaker_state{dependency="postgres"} 2');
    expect(text).toContain('dependency_failures_total{dependency="postgres"} 1');
  });
});
