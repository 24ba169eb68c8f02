import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { CONSUMER_GROUP, EVENTS_TOPIC, SERVICE_NAME } from './project';
import { isDomainEvent, type DomainEvent, type EventBus, type Hub } from './events';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { backoffMs, BreakerOpenError, Guard, sleep, withTimeout } from './resilience';

/**
 * Events waiting for Kafka. While Kafka is down (the breaker is open) events
 * wait here; when it is full new events are dropped and counted in
 * domain_events_dropped_total{reason="kafka_unavailable"}.
 */
export const OUTBOX_SIZE = 1024;

/**
 * Publishes greeting events to the greetings topic through a breaker with
 * retries, and bridges the topic back to WebSocket clients through the
 * `<project>-ws-bridge` consumer group.
 */
export class KafkaBus implements EventBus {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly guard: Guard;
  private readonly outbox: DomainEvent[] = [];
  private producerConnected = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private resolveStop: () => void = () => undefined;
  private readonly stopSignal: Promise<void>;
  private producing: Promise<void> | undefined;
  private consuming: Promise<void> | undefined;

  constructor(
    brokers: string[],
    private readonly hub: Hub,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.kafka = new Kafka({
      clientId: SERVICE_NAME,
      brokers,
      connectionTimeout: 3000,
      requestTimeout: 5000,
      logLevel: logLevel.NOTHING,
      // Retries are ours (Guard), so the breaker sees them.
      retry: { retries: 0 },
    });
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 0 },
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.producerConnected = false;
    });
    this.guard = new Guard('kafka', metrics, {
      attempts: 3,
      baseDelayMs: 100,
      maxDelayMs: 2000,
      attemptTimeoutMs: 5000,
    });
    this.stopSignal = new Promise<void>((resolve) => {
      this.resolveStop = resolve;
    });
  }

  /** Queues the event; never blocks or fails the request. */
  publish(event: DomainEvent): void {
    if (this.stopped || this.outbox.length >= OUTBOX_SIZE) {
      this.metrics.eventsDropped.inc({ reason: this.stopped ? 'shutdown' : 'kafka_unavailable' });
      this.log.warn('event outbox full, event dropped', { event_id: event.eventId });
      return;
    }
    this.outbox.push(event);
    this.wake?.();
  }

  async start(): Promise<void> {
    this.producing = this.produceLoop();
    this.consuming = this.consumeLoop();
  }

  /** One reachable broker answering a metadata request is enough. */
  async ready(): Promise<void> {
    const admin = this.kafka.admin({ retry: { retries: 0 } });
    try {
      await withTimeout(
        (async () => {
          await admin.connect();
          await admin.describeCluster();
        })(),
        3000,
      );
    } finally {
      void admin.disconnect().catch(() => undefined);
    }
  }

  /** Stops the loops, flushes what is left (bounded by a deadline), disconnects. */
  async close(): Promise<void> {
    this.stopped = true;
    this.resolveStop();
    this.wake?.();
    await this.producing;
    const deadline = Date.now() + 5000;
    while (this.outbox.length > 0) {
      const event = this.outbox.shift() as DomainEvent;
      const left = deadline - Date.now();
      try {
        if (left <= 0) {
          throw new Error('flush deadline passed');
        }
        await withTimeout(this.guard.run(() => this.send(event)), left);
        this.metrics.eventsPublished.inc();
      } catch {
        this.metrics.eventsDropped.inc({ reason: 'shutdown' });
      }
    }
    await this.producer.disconnect().catch(() => undefined);
    // A consumer still connecting cannot be interrupted: wait a bounded time.
    await Promise.race([this.consuming, sleep(3000)]);
  }

  private async send(event: DomainEvent): Promise<void> {
    if (!this.producerConnected) {
      await this.producer.connect();
      this.producerConnected = true;
    }
    await this.producer.send({
      topic: EVENTS_TOPIC,
      acks: 1,
      timeout: 5000,
      messages: [
        {
          key: event.aggregateId,
          value: JSON.stringify(event),
          headers: { eventType: event.eventType },
        },
      ],
    });
  }

  private async pause(ms: number): Promise<void> {
    await Promise.race([sleep(ms), this.stopSignal]);
  }

  /** Keeps the oldest event until Kafka takes it: while the breaker is open, events wait. */
  private async produceLoop(): Promise<void> {
    let waitMs = 500;
    while (!this.stopped) {
      const event = this.outbox[0];
      if (event === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      try {
        await this.guard.run(() => this.send(event));
        this.outbox.shift();
        this.metrics.eventsPublished.inc();
        waitMs = 500;
      } catch (err) {
        if (!(err instanceof BreakerOpenError)) {
          this.log.warn('publishing event failed, will retry', { event_id: event.eventId, error: err });
        }
        await this.pause(waitMs);
        waitMs = Math.min(waitMs * 2, 5000);
      }
    }
  }

  /** Runs the consumer group; on a crash kafkajs cannot recover from, starts again with backoff. */
  private async consumeLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const consumer: Consumer = this.kafka.consumer({
        groupId: CONSUMER_GROUP,
        allowAutoTopicCreation: true,
        // A short internal retry; consumeLoop restarts with its own backoff.
        retry: { retries: 2 },
      });
      const crashed = new Promise<void>((resolve) => {
        consumer.on(consumer.events.CRASH, (event) => {
          this.log.warn('kafka consumer crashed', { error: event.payload.error });
          if (!event.payload.restart) {
            resolve();
          }
        });
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [EVENTS_TOPIC], fromBeginning: false });
        await consumer.run({
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
            for (const message of batch.messages) {
              if (!isRunning() || isStale()) {
                break;
              }
              this.deliver(message.value);
              resolveOffset(message.offset);
              await heartbeat();
            }
            this.metrics.kafkaConsumerLag.set(Number(batch.offsetLag()));
          },
        });
        attempt = 0;
        this.log.info('kafka consumer running', { group: CONSUMER_GROUP, topic: EVENTS_TOPIC });
        await Promise.race([crashed, this.stopSignal]);
      } catch (err) {
        this.log.warn('kafka consumer could not start', { error: err });
      }
      await consumer.disconnect().catch(() => undefined);
      if (this.stopped) {
        return;
      }
      attempt += 1;
      await this.pause(backoffMs({ baseDelayMs: 500, maxDelayMs: 30_000 }, attempt));
    }
  }

  private deliver(value: Buffer | null): void {
    if (value === null) {
      return;
    }
    try {
      const parsed: unknown = JSON.parse(value.toString('utf8'));
      if (isDomainEvent(parsed)) {
        this.hub.broadcast(parsed);
        return;
      }
    } catch {
      // fall through
    }
    this.log.warn('skipping malformed event');
  }
}
