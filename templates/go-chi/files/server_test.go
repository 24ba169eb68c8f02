package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

type recordingBus struct {
	mu     sync.Mutex
	events []Event
	ready  error
}

func (b *recordingBus) Publish(_ context.Context, e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
}
func (b *recordingBus) Start(context.Context)       {}
func (b *recordingBus) Ready(context.Context) error { return b.ready }
func (b *recordingBus) Close() error                { return nil }

func (b *recordingBus) published() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.events...)
}

// syncBuffer collects log lines; the server writes them from its own
// goroutines, possibly after the client already has the response.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testApp struct {
	app  *App
	srv  *httptest.Server
	logs *syncBuffer
}

func newTestApp(t *testing.T, cfg Config, bus Publisher, deps *Dependencies) *testApp {
	t.Helper()
	logs := &syncBuffer{}
	m := NewMetrics()
	hub := NewHub(m)
	if bus == nil {
		bus = NewLocalBus(hub, m)
	}
	app := NewApp(cfg, NewLogger(logs, LevelDebug, "test-service", "v-test"), m, hub, bus, deps)
	srv := httptest.NewServer(app.Router())
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &testApp{app: app, srv: srv, logs: logs}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return out
}

func TestHealthLiveAndHello(t *testing.T) {
	ta := newTestApp(t, Config{}, nil, nil)
	cases := []struct {
		path, key, want string
	}{
		{"/health", "status", "ok"},
		{"/live", "status", "alive"},
		{"/hello", "message", "Hello, World!"},
		{"/hello/Ada", "message", "Hello, Ada!"},
		{"/hello/Grace%20Hopper", "message", "Hello, Grace Hopper!"},
	}
	for _, c := range cases {
		resp, body := get(t, ta.srv.URL+c.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", c.path, resp.StatusCode)
		}
		if got := decode(t, body)[c.key]; got != c.want {
			t.Fatalf("%s: %s = %v, want %q", c.path, c.key, got, c.want)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: content type %q", c.path, ct)
		}
	}
}

func TestHelloNamePublishesGreetingCreated(t *testing.T) {
	bus := &recordingBus{}
	ta := newTestApp(t, Config{}, bus, nil)
	resp, _ := get(t, ta.srv.URL+"/hello/Linus")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	events := bus.published()
	if len(events) != 1 {
		t.Fatalf("published %d events, want 1", len(events))
	}
	e := events[0]
	if e.EventType != "greeting.created" || e.AggregateID != "Linus" ||
		e.Payload.Name != "Linus" || e.Payload.Message != "Hello, Linus!" {
		t.Fatalf("unexpected event %+v", e)
	}
	if _, err := time.Parse(time.RFC3339, e.OccurredAt); err != nil {
		t.Fatalf("occurredAt %q is not RFC3339: %v", e.OccurredAt, err)
	}
	if len(e.EventID) != 36 {
		t.Fatalf("eventId %q is not a UUID", e.EventID)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"eventId"`, `"aggregateId"`, `"occurredAt"`, `"eventType"`, `"payload"`} {
		if !bytes.Contains(raw, []byte(field)) {
			t.Fatalf("event JSON %s lacks %s", raw, field)
		}
	}
}

func TestHelloRejectsOverlongName(t *testing.T) {
	bus := &recordingBus{}
	ta := newTestApp(t, Config{}, bus, nil)
	resp, _ := get(t, ta.srv.URL+"/hello/"+strings.Repeat("a", maxNameRunes+1))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if n := len(bus.published()); n != 0 {
		t.Fatalf("published %d events for a rejected request", n)
	}
}

func TestEchoReturnsBodyAndRejectsNonJSON(t *testing.T) {
	ta := newTestApp(t, Config{}, nil, nil)
	payload := `{"a":1,"nested":{"b":[true,null,"x"]}}`
	resp, err := http.Post(ta.srv.URL+"/echo", "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != payload {
		t.Fatalf("echo: status %d body %q", resp.StatusCode, body)
	}
	resp, err = http.Post(ta.srv.URL+"/echo", "application/json", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("non-JSON echo: status %d, want 400", resp.StatusCode)
	}
}

func TestRequestIDIsEchoedOrGeneratedAndLogged(t *testing.T) {
	ta := newTestApp(t, Config{}, nil, nil)
	req, _ := http.NewRequest(http.MethodGet, ta.srv.URL+"/hello/log", nil)
	req.Header.Set("X-Request-Id", "req-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "req-123" {
		t.Fatalf("X-Request-Id = %q, want req-123", got)
	}
	resp, _ = get(t, ta.srv.URL+"/hello")
	if got := resp.Header.Get("X-Request-Id"); len(got) != 36 {
		t.Fatalf("generated X-Request-Id = %q, want a UUID", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		found := false
		for _, line := range strings.Split(strings.TrimSpace(ta.logs.String()), "\n") {
			entry := decode(t, []byte(line))
			for _, k := range []string{"ts", "level", "msg", "service", "version"} {
				if _, ok := entry[k]; !ok {
					t.Fatalf("log line %s lacks %q", line, k)
				}
			}
			if entry["request_id"] == "req-123" && entry["trace_id"] == "req-123" {
				found = true
			}
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line carries request_id req-123:\n%s", ta.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadyReportsFailedDependency(t *testing.T) {
	deps := &Dependencies{Checks: []ReadinessCheck{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "redis", Check: func(context.Context) error { return errors.New("connection refused") }},
	}}
	ta := newTestApp(t, Config{}, nil, deps)
	resp, body := get(t, ta.srv.URL+"/ready")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	failed, _ := decode(t, body)["failed"].([]any)
	if len(failed) != 1 || failed[0] != "redis" {
		t.Fatalf("failed = %v, want [redis]", failed)
	}
	// Liveness never looks at dependencies.
	if resp, _ := get(t, ta.srv.URL+"/live"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/live status %d while a dependency is down", resp.StatusCode)
	}
}

func TestReadyChecksKafkaOnlyWhenConfigured(t *testing.T) {
	bus := &recordingBus{ready: errors.New("no broker")}
	ta := newTestApp(t, Config{}, bus, nil)
	if resp, _ := get(t, ta.srv.URL+"/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("without Kafka configured: status %d, want 200", resp.StatusCode)
	}
	ta = newTestApp(t, Config{KafkaBrokers: []string{"127.0.0.1:1"}}, bus, nil)
	resp, body := get(t, ta.srv.URL+"/ready")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "kafka") {
		t.Fatalf("with Kafka down: status %d body %s", resp.StatusCode, body)
	}
	ta.app.SetDraining()
	if resp, _ := get(t, ta.srv.URL+"/ready"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("draining: status %d, want 503", resp.StatusCode)
	}
}

type failingStore struct{ calls int }

func (s *failingStore) Save(context.Context, string, string) error {
	s.calls++
	return errors.New("database is down")
}

func TestGreetingAnsweredWhenStoreFails(t *testing.T) {
	store := &failingStore{}
	bus := &recordingBus{}
	ta := newTestApp(t, Config{}, bus, &Dependencies{Store: store})
	resp, body := get(t, ta.srv.URL+"/hello/Barbara")
	if resp.StatusCode != http.StatusOK || decode(t, body)["message"] != "Hello, Barbara!" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if store.calls != 1 || len(bus.published()) != 1 {
		t.Fatalf("store calls %d, events %d", store.calls, len(bus.published()))
	}
}

func TestMetricsExposeStandardNames(t *testing.T) {
	ta := newTestApp(t, Config{}, nil, nil)
	get(t, ta.srv.URL+"/hello/metrics")
	ta.app.metrics.BreakerState.WithLabelValues("kafka").Set(0)
	_, body := get(t, ta.srv.URL+"/metrics")
	text := string(body)
	for _, want := range []string{
		`http_requests_total{method="GET",path="/hello/{name}",status="200"} 1`,
		`http_request_duration_seconds_bucket{method="GET",path="/hello/{name}"`,
		"websocket_connections 0",
		"kafka_consumer_lag 0",
		`circuit_breaker_state{dependency="kafka"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

func TestWebSocketReceivesGreetingEvents(t *testing.T) {
	ta := newTestApp(t, Config{}, nil, nil)
	wsURL := "ws" + strings.TrimPrefix(ta.srv.URL, "http") + "/ws/events"
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	for ta.app.hub.Subscribers() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	get(t, ta.srv.URL+"/hello/Margaret")
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	kind, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	if kind != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", kind)
	}
	var e Event
	if err := json.Unmarshal(frame, &e); err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	if e.EventType != "greeting.created" || e.Payload.Name != "Margaret" {
		t.Fatalf("unexpected event %s", frame)
	}
}
