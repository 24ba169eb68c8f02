package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCache counts greetings per name (INCR greetings:count:<name>) behind
// a breaker with retries and timeouts.
type RedisCache struct {
	client *redis.Client
	guard  *Guard
	log    *Logger
}

func NewRedisCache(url string, m *Metrics, log *Logger) (*RedisCache, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opts.DialTimeout = 1 * time.Second
	opts.ReadTimeout = 500 * time.Millisecond
	opts.WriteTimeout = 500 * time.Millisecond
	opts.MaxRetries = 0 // retries are ours, so the breaker sees them
	return &RedisCache{
		client: redis.NewClient(opts),
		guard: NewGuard("redis", m, RetryPolicy{
			Attempts: 3, BaseDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
			AttemptTimeout: 1 * time.Second,
		}),
		log: log,
	}, nil
}

func (c *RedisCache) Increment(ctx context.Context, name string) (int64, error) {
	var n int64
	err := c.guard.Do(ctx, func(ctx context.Context) error {
		v, err := c.client.Incr(ctx, "greetings:count:"+name).Result()
		n = v
		return err
	})
	return n, err
}

func (c *RedisCache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.client.Ping(ctx).Err()
}

func (c *RedisCache) Close() error { return c.client.Close() }
