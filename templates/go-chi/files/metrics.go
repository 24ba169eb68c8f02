package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors every blissful-infra template exposes under the
// same names, so the default dashboards and canary queries work unchanged.
type Metrics struct {
	Registry          *prometheus.Registry
	RequestsTotal     *prometheus.CounterVec
	RequestDuration   *prometheus.HistogramVec
	WebsocketConns    prometheus.Gauge
	KafkaConsumerLag  prometheus.Gauge
	BreakerState      *prometheus.GaugeVec
	EventsPublished   prometheus.Counter
	EventsDropped     *prometheus.CounterVec
	DependencyFailure *prometheus.CounterVec
}

func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "path", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by method and route.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"method", "path"}),
		WebsocketConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "websocket_connections",
			Help: "Open WebSocket connections on /ws/events.",
		}),
		KafkaConsumerLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kafka_consumer_lag",
			Help: "Messages behind the end of the greetings topic.",
		}),
		BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "circuit_breaker_state",
			Help: "Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open.",
		}, []string{"dependency"}),
		EventsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "domain_events_published_total",
			Help: "Domain events handed to Kafka (or the in-process bus).",
		}),
		EventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "domain_events_dropped_total",
			Help: "Domain events that could not be delivered, by reason.",
		}, []string{"reason"}),
		DependencyFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dependency_failures_total",
			Help: "Failed calls to a dependency after retries, or refused by an open breaker.",
		}, []string{"dependency"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.RequestsTotal, m.RequestDuration, m.WebsocketConns, m.KafkaConsumerLag,
		m.BreakerState, m.EventsPublished, m.EventsDropped, m.DependencyFailure,
	)
	return m
}
