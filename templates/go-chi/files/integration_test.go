// Integration tests against real Kafka in Docker via Testcontainers. They
// skip themselves when Docker is not available, and under `go test -short`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/kafka"
)

func TestKafkaRoundTripToWebSocket(t *testing.T) {
	skipWithoutDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	container, err := kafka.Run(ctx, "confluentinc/confluent-local:7.5.0", kafka.WithClusterID("blissful-test"))
	if err != nil {
		t.Skipf("kafka container unavailable: %v", err)
	}
	t.Cleanup(func() { _ = container.Terminate(context.Background()) })
	brokers, err := container.Brokers(ctx)
	if err != nil {
		t.Fatalf("brokers: %v", err)
	}

	cfg := Config{KafkaBrokers: brokers, Version: "it"}
	m := NewMetrics()
	hub := NewHub(m)
	log := NewLogger(&bytes.Buffer{}, LevelInfo, serviceName, "it")
	bus := NewKafkaBus(cfg, hub, m, log)
	busCtx, stopBus := context.WithCancel(ctx)
	bus.Start(busCtx)
	defer func() {
		stopBus()
		_ = bus.Close()
	}()
	app := NewApp(cfg, log, m, hub, bus, nil)
	srv := httptest.NewServer(app.Router())
	defer srv.Close()

	waitFor(t, 60*time.Second, func() bool {
		resp, err := http.Get(srv.URL + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/events", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()

	// The consumer group joins asynchronously and starts at the newest
	// offset, so keep greeting until an event comes back through Kafka.
	received := make(chan Event, 16)
	go func() {
		for {
			_, frame, err := conn.ReadMessage()
			if err != nil {
				close(received)
				return
			}
			var e Event
			if json.Unmarshal(frame, &e) == nil {
				received <- e
			}
		}
	}()
	deadline := time.After(90 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/hello/Kafka")
		if err == nil {
			resp.Body.Close()
		}
		select {
		case e, ok := <-received:
			if !ok {
				t.Fatal("websocket closed before an event arrived")
			}
			if e.EventType != "greeting.created" || e.Payload.Name != "Kafka" {
				t.Fatalf("unexpected event %+v", e)
			}
			return
		case <-time.After(2 * time.Second):
		case <-deadline:
			t.Fatal("no event came back through Kafka within 90s")
		}
	}
}

func TestKafkaDownKeepsAPIAnswering(t *testing.T) {
	// No container: a broker address nobody listens on.
	if testing.Short() {
		t.Skip("waits for Kafka client timeouts; skipped in -short mode")
	}
	cfg := Config{KafkaBrokers: []string{"127.0.0.1:1"}}
	m := NewMetrics()
	hub := NewHub(m)
	log := NewLogger(&bytes.Buffer{}, LevelInfo, serviceName, "it")
	bus := NewKafkaBus(cfg, hub, m, log)
	ctx, cancel := context.WithCancel(context.Background())
	bus.Start(ctx)
	defer func() {
		cancel()
		_ = bus.Close()
	}()
	srv := httptest.NewServer(NewApp(cfg, log, m, hub, bus, nil).Router())
	defer srv.Close()
	for i := 0; i < 20; i++ {
		start := time.Now()
		resp, err := http.Get(srv.URL + "/hello/offline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || time.Since(start) > time.Second {
			t.Fatalf("request %d: status %d after %v", i, resp.StatusCode, time.Since(start))
		}
	}
	resp, err := http.Get(srv.URL + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready status %d with Kafka down, want 503", resp.StatusCode)
	}
}

// skipWithoutDocker skips container tests under -short or without Docker.
func skipWithoutDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("container test skipped in -short mode")
	}
	testcontainers.SkipIfProviderIsNotHealthy(t)
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
