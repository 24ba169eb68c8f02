package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

func TestRedisCacheCountsGreetings(t *testing.T) {
	skipWithoutDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	container, err := tcredis.Run(ctx, "redis:7-alpine")
	if err != nil {
		t.Skipf("redis container unavailable: %v", err)
	}
	t.Cleanup(func() { _ = container.Terminate(context.Background()) })
	url, err := container.ConnectionString(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewRedisCache(url, NewMetrics(), NewLogger(&bytes.Buffer{}, LevelInfo, serviceName, "it"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	for want := int64(1); want <= 3; want++ {
		got, err := cache.Increment(ctx, "Radia")
		if err != nil || got != want {
			t.Fatalf("increment = %d, %v; want %d", got, err, want)
		}
	}
}
