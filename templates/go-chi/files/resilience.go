package main

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"time"
)

// ErrBreakerOpen is returned without calling the dependency while its
// circuit breaker is open.
var ErrBreakerOpen = errors.New("circuit breaker open")

// BreakerState follows the values of the circuit_breaker_state gauge.
type BreakerState int

const (
	BreakerClosed   BreakerState = 0
	BreakerHalfOpen BreakerState = 1
	BreakerOpen     BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	default:
		return "closed"
	}
}

// Breaker is a consecutive-failure circuit breaker: after Threshold failures
// in a row it opens for OpenFor, then lets one trial call through
// (half-open); a success closes it, a failure opens it again.
type Breaker struct {
	name      string
	threshold int
	openFor   time.Duration
	now       func() time.Time
	onChange  func(name string, state BreakerState)

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	trial    bool
}

func NewBreaker(name string, threshold int, openFor time.Duration, onChange func(string, BreakerState)) *Breaker {
	if threshold < 1 {
		threshold = 1
	}
	b := &Breaker{name: name, threshold: threshold, openFor: openFor, now: time.Now, onChange: onChange}
	if onChange != nil {
		onChange(name, BreakerClosed)
	}
	return b
}

// State returns the current state, moving open to half-open once OpenFor
// has passed.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshLocked()
	return b.state
}

func (b *Breaker) refreshLocked() {
	if b.state == BreakerOpen && b.now().Sub(b.openedAt) >= b.openFor {
		b.setLocked(BreakerHalfOpen)
		b.trial = false
	}
}

func (b *Breaker) setLocked(s BreakerState) {
	if b.state == s {
		return
	}
	b.state = s
	if b.onChange != nil {
		b.onChange(b.name, s)
	}
}

// Do runs fn unless the breaker is open (or half-open with its trial call
// already under way), and records the outcome.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	b.mu.Lock()
	b.refreshLocked()
	switch b.state {
	case BreakerOpen:
		b.mu.Unlock()
		return ErrBreakerOpen
	case BreakerHalfOpen:
		if b.trial {
			b.mu.Unlock()
			return ErrBreakerOpen
		}
		b.trial = true
	}
	b.mu.Unlock()

	err := fn(ctx)

	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.failures = 0
		b.trial = false
		b.setLocked(BreakerClosed)
		return nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller gave up; that says nothing about the dependency.
		b.trial = false
		return err
	}
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.openedAt = b.now()
		b.trial = false
		b.setLocked(BreakerOpen)
	}
	return err
}

// RetryPolicy retries a call with exponential backoff and full jitter; each
// attempt gets its own timeout.
type RetryPolicy struct {
	Attempts       int
	BaseDelay      time.Duration
	MaxDelay       time.Duration
	AttemptTimeout time.Duration
}

// Run calls fn until it succeeds, the attempts are used up, ctx ends, or fn
// returns an error wrapped with Permanent.
func (p RetryPolicy) Run(ctx context.Context, fn func(context.Context) error) error {
	attempts := p.Attempts
	if attempts < 1 {
		attempts = 1
	}
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			delay := p.backoff(attempt)
			timer := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
		attemptCtx, cancel := ctx, context.CancelFunc(func() {})
		if p.AttemptTimeout > 0 {
			attemptCtx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		err = fn(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.BaseDelay << (attempt - 1)
	if d <= 0 || (p.MaxDelay > 0 && d > p.MaxDelay) {
		d = p.MaxDelay
	}
	if d <= 0 {
		return 0
	}
	// Full jitter spreads retries from many instances.
	return time.Duration(rand.Int63n(int64(d)) + 1)
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks an error that retrying cannot fix.
func Permanent(err error) error { return permanentError{err: err} }

// Guard combines a breaker and a retry policy: the breaker sees one call per
// retried operation, so a flapping dependency opens it only when the retries
// did not help.
type Guard struct {
	Breaker *Breaker
	Retry   RetryPolicy
	metrics *Metrics
}

func NewGuard(name string, m *Metrics, retry RetryPolicy) *Guard {
	breaker := NewBreaker(name, 5, 15*time.Second, func(dep string, s BreakerState) {
		m.BreakerState.WithLabelValues(dep).Set(float64(s))
	})
	return &Guard{Breaker: breaker, Retry: retry, metrics: m}
}

func (g *Guard) Do(ctx context.Context, fn func(context.Context) error) error {
	err := g.Breaker.Do(ctx, func(ctx context.Context) error { return g.Retry.Run(ctx, fn) })
	if err != nil {
		g.metrics.DependencyFailure.WithLabelValues(g.Breaker.name).Inc()
	}
	return err
}
