package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// outboxSize bounds the events waiting for Kafka. While Kafka is down (the
// breaker is open) events wait here; when it is full new events are dropped
// and counted in domain_events_dropped_total{reason="kafka_unavailable"}.
const outboxSize = 1024

// LocalBus is used when KAFKA_BOOTSTRAP_SERVERS is unset: events go straight
// to the WebSocket hub so the service is fully usable without Kafka.
type LocalBus struct {
	hub     *Hub
	metrics *Metrics
}

func NewLocalBus(hub *Hub, m *Metrics) *LocalBus { return &LocalBus{hub: hub, metrics: m} }

func (b *LocalBus) Publish(_ context.Context, e Event) {
	frame, err := json.Marshal(e)
	if err != nil {
		b.metrics.EventsDropped.WithLabelValues("encode").Inc()
		return
	}
	b.metrics.EventsPublished.Inc()
	b.hub.Broadcast(frame)
}
func (b *LocalBus) Start(context.Context)       {}
func (b *LocalBus) Ready(context.Context) error { return nil }
func (b *LocalBus) Close() error                { return nil }

// KafkaBus publishes events to the greetings topic through a breaker and
// retries, and bridges the topic back to WebSocket clients through a consumer
// group.
type KafkaBus struct {
	brokers []string
	writer  *kafka.Writer
	reader  *kafka.Reader
	guard   *Guard
	outbox  chan Event
	hub     *Hub
	metrics *Metrics
	log     *Logger
	wg      sync.WaitGroup
}

func NewKafkaBus(cfg Config, hub *Hub, m *Metrics, log *Logger) *KafkaBus {
	writer := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.KafkaBrokers...),
		Topic:                  eventsTopic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireOne,
		AllowAutoTopicCreation: true,
		BatchTimeout:           10 * time.Millisecond,
		WriteTimeout:           5 * time.Second,
		ReadTimeout:            5 * time.Second,
		// Retries are ours (RetryPolicy), so the breaker sees them.
		MaxAttempts: 1,
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.KafkaBrokers,
		GroupID:        consumerGroup,
		Topic:          eventsTopic,
		MinBytes:       1,
		MaxBytes:       1 << 20,
		MaxWait:        500 * time.Millisecond,
		StartOffset:    kafka.LastOffset,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: 5 * time.Second,
	})
	return &KafkaBus{
		brokers: cfg.KafkaBrokers,
		writer:  writer,
		reader:  reader,
		guard: NewGuard("kafka", m, RetryPolicy{
			Attempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second,
			AttemptTimeout: 5 * time.Second,
		}),
		outbox:  make(chan Event, outboxSize),
		hub:     hub,
		metrics: m,
		log:     log,
	}
}

// Publish queues the event; it never blocks the request.
func (b *KafkaBus) Publish(ctx context.Context, e Event) {
	select {
	case b.outbox <- e:
	default:
		b.metrics.EventsDropped.WithLabelValues("kafka_unavailable").Inc()
		b.log.Warn(ctx, "event outbox full, event dropped", "event_id", e.EventID)
	}
}

// Start runs the producer and the consumer until ctx ends.
func (b *KafkaBus) Start(ctx context.Context) {
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.produce(ctx) }()
	go func() { defer b.wg.Done(); b.consume(ctx) }()
}

func (b *KafkaBus) produce(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-b.outbox:
			b.deliver(ctx, e)
		}
	}
}

// deliver keeps the event until Kafka takes it or the service stops: while
// the breaker is open the event (and the outbox behind it) waits.
func (b *KafkaBus) deliver(ctx context.Context, e Event) {
	msg, err := encodeMessage(e)
	if err != nil {
		b.metrics.EventsDropped.WithLabelValues("encode").Inc()
		return
	}
	wait := 500 * time.Millisecond
	for {
		err := b.guard.Do(ctx, func(ctx context.Context) error { return b.writer.WriteMessages(ctx, msg) })
		if err == nil {
			b.metrics.EventsPublished.Inc()
			return
		}
		if ctx.Err() != nil {
			// Put it back so Close can try one last flush.
			select {
			case b.outbox <- e:
			default:
				b.metrics.EventsDropped.WithLabelValues("shutdown").Inc()
			}
			return
		}
		if !errors.Is(err, ErrBreakerOpen) {
			b.log.Warn(ctx, "publishing event failed, will retry", "event_id", e.EventID, "error", err)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		if wait < 5*time.Second {
			wait *= 2
		}
	}
}

func encodeMessage(e Event) (kafka.Message, error) {
	value, err := json.Marshal(e)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{
		Key:     []byte(e.AggregateID),
		Value:   value,
		Headers: []kafka.Header{{Key: "eventType", Value: []byte(e.EventType)}},
	}, nil
}

// consume bridges the topic to WebSocket clients. kafka-go's reader retries
// with its own backoff; we back off further on repeated errors.
func (b *KafkaBus) consume(ctx context.Context) {
	backoff := RetryPolicy{BaseDelay: 200 * time.Millisecond, MaxDelay: 10 * time.Second}
	failures := 0
	for {
		msg, err := b.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			b.log.Warn(ctx, "kafka fetch failed", "error", err, "attempt", failures)
			timer := time.NewTimer(backoff.backoff(failures))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		failures = 0
		if lag := msg.HighWaterMark - msg.Offset - 1; lag >= 0 {
			b.metrics.KafkaConsumerLag.Set(float64(lag))
		}
		var e Event
		if err := json.Unmarshal(msg.Value, &e); err != nil || e.EventType == "" {
			b.log.Warn(ctx, "skipping malformed event", "offset", msg.Offset, "partition", msg.Partition)
		} else if frame, err := json.Marshal(e); err == nil {
			b.hub.Broadcast(frame)
		}
		commitCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := b.reader.CommitMessages(commitCtx, msg); err != nil {
			b.log.Warn(ctx, "kafka commit failed", "error", err)
		}
		cancel()
	}
}

// Ready dials the brokers; one reachable broker is enough.
func (b *KafkaBus) Ready(ctx context.Context) error {
	dialer := &kafka.Dialer{Timeout: 2 * time.Second}
	var last error
	for _, addr := range b.brokers {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		last = err
	}
	return fmt.Errorf("no kafka broker reachable: %w", last)
}

// Close waits for the producer and consumer to stop, flushes what is left in
// the outbox (bounded by a deadline) and closes the clients.
func (b *KafkaBus) Close() error {
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case e := <-b.outbox:
			msg, err := encodeMessage(e)
			if err == nil {
				err = b.guard.Do(ctx, func(ctx context.Context) error { return b.writer.WriteMessages(ctx, msg) })
			}
			if err != nil {
				b.metrics.EventsDropped.WithLabelValues("shutdown").Inc()
			} else {
				b.metrics.EventsPublished.Inc()
			}
			continue
		default:
		}
		break
	}
	werr := b.writer.Close()
	rerr := b.reader.Close()
	if werr != nil {
		return werr
	}
	return rerr
}
