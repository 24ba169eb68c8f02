package main

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Event is the domain event shared by every blissful-infra template.
type Event struct {
	EventID     string         `json:"eventId"`
	AggregateID string         `json:"aggregateId"`
	OccurredAt  string         `json:"occurredAt"`
	EventType   string         `json:"eventType"`
	Payload     GreetingFields `json:"payload"`
}

type GreetingFields struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

const greetingCreated = "greeting.created"

func NewGreetingCreated(name, message string) Event {
	return Event{
		EventID:     uuid.NewString(),
		AggregateID: name,
		OccurredAt:  time.Now().UTC().Format(time.RFC3339Nano),
		EventType:   greetingCreated,
		Payload:     GreetingFields{Name: name, Message: message},
	}
}

// subscriberBuffer is how many events one WebSocket client may fall behind
// before events for it are dropped (and counted).
const subscriberBuffer = 64

// Hub fans consumed events out to WebSocket subscribers. A slow subscriber
// never blocks the others: its events are dropped and counted.
type Hub struct {
	mu      sync.Mutex
	subs    map[chan []byte]struct{}
	closed  bool
	metrics *Metrics
}

func NewHub(m *Metrics) *Hub {
	return &Hub{subs: make(map[chan []byte]struct{}), metrics: m}
}

// Subscribe returns a channel of JSON frames and a function that ends the
// subscription. The channel is closed when the hub shuts down.
func (h *Hub) Subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, subscriberBuffer)
	h.mu.Lock()
	if h.closed {
		close(ch)
		h.mu.Unlock()
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			if _, ok := h.subs[ch]; ok {
				delete(h.subs, ch)
				close(ch)
			}
			h.mu.Unlock()
		})
	}
}

// Broadcast hands one JSON frame to every subscriber.
func (h *Hub) Broadcast(frame []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- frame:
		default:
			h.metrics.EventsDropped.WithLabelValues("slow_websocket_client").Inc()
		}
	}
}

// Close ends every subscription; used on shutdown so WebSocket handlers
// return and hijacked connections close.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// Subscribers returns the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publisher accepts domain events without blocking the request path.
type Publisher interface {
	Publish(ctx context.Context, e Event)
	Start(ctx context.Context)
	Ready(ctx context.Context) error
	Close() error
}
