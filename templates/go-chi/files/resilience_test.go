package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	var transitions []BreakerState
	b := NewBreaker("dep", 3, 10*time.Second, func(_ string, s BreakerState) {
		transitions = append(transitions, s)
	})
	b.now = clock.Now
	boom := errors.New("boom")
	calls := 0
	failing := func(context.Context) error { calls++; return boom }
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		if err := b.Do(ctx, failing); !errors.Is(err, boom) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if b.State() != BreakerOpen {
		t.Fatalf("state %v after 3 failures, want open", b.State())
	}
	if err := b.Do(ctx, failing); !errors.Is(err, ErrBreakerOpen) || calls != 3 {
		t.Fatalf("open breaker: err %v, calls %d", err, calls)
	}
	clock.Advance(10 * time.Second)
	if b.State() != BreakerHalfOpen {
		t.Fatalf("state %v after the open period, want half-open", b.State())
	}
	// A failed trial opens it again.
	if err := b.Do(ctx, failing); !errors.Is(err, boom) || b.State() != BreakerOpen {
		t.Fatalf("failed trial: err %v state %v", err, b.State())
	}
	clock.Advance(10 * time.Second)
	if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("successful trial: %v", err)
	}
	if b.State() != BreakerClosed {
		t.Fatalf("state %v after a successful trial, want closed", b.State())
	}
	want := []BreakerState{BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if len(transitions) != len(want) {
		t.Fatalf("transitions %v, want %v", transitions, want)
	}
	for i := range want {
		if transitions[i] != want[i] {
			t.Fatalf("transitions %v, want %v", transitions, want)
		}
	}
}

func TestRetryStopsOnSuccessAndOnPermanentErrors(t *testing.T) {
	p := RetryPolicy{Attempts: 4, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond}
	calls := 0
	err := p.Run(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("transient")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success after 3", err, calls)
	}
	calls = 0
	bad := errors.New("bad input")
	err = p.Run(context.Background(), func(context.Context) error { calls++; return Permanent(bad) })
	if !errors.Is(err, bad) || calls != 1 {
		t.Fatalf("permanent: err %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Run(context.Background(), func(context.Context) error { calls++; return errors.New("down") })
	if err == nil || calls != 4 {
		t.Fatalf("exhausted: err %v after %d calls, want 4", err, calls)
	}
}

func TestRetryGivesEachAttemptATimeout(t *testing.T) {
	p := RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond, AttemptTimeout: 20 * time.Millisecond}
	start := time.Now()
	err := p.Run(context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("attempt timeouts not applied: took %v", elapsed)
	}
}

func TestLocalBusDropsForSlowSubscribersWithoutBlocking(t *testing.T) {
	m := NewMetrics()
	hub := NewHub(m)
	_, unsubscribe := hub.Subscribe()
	defer unsubscribe()
	bus := NewLocalBus(hub, m)
	done := make(chan struct{})
	go func() {
		for i := 0; i < subscriberBuffer+10; i++ {
			bus.Publish(context.Background(), NewGreetingCreated("n", "Hello, n!"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("publishing blocked on a slow subscriber")
	}
	dropped := testutil.ToFloat64(m.EventsDropped.WithLabelValues("slow_websocket_client"))
	if dropped != 10 {
		t.Fatalf("dropped %v events, want 10", dropped)
	}
}
