package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	maxEchoBody  = 1 << 20
	maxNameRunes = 200
	// storeBudget bounds how long a greeting waits for Postgres/Redis,
	// retries included, before it is answered without them.
	storeBudget = 1500 * time.Millisecond
)

// App wires the HTTP API to its collaborators.
type App struct {
	cfg      Config
	log      *Logger
	metrics  *Metrics
	hub      *Hub
	bus      Publisher
	deps     *Dependencies
	draining atomic.Bool
}

func NewApp(cfg Config, log *Logger, m *Metrics, hub *Hub, bus Publisher, deps *Dependencies) *App {
	if deps == nil {
		deps = &Dependencies{}
	}
	return &App{cfg: cfg, log: log, metrics: m, hub: hub, bus: bus, deps: deps}
}

// SetDraining makes /ready answer 503 while the service shuts down.
func (a *App) SetDraining() { a.draining.Store(true) }

func (a *App) Router() http.Handler {
	r := chi.NewRouter()
	r.Use(a.requestID, a.observe, middleware.Recoverer)
	r.Get("/health", a.health)
	r.Get("/live", a.live)
	r.Get("/ready", a.ready)
	r.Get("/hello", a.helloWorld)
	r.Get("/hello/{name}", a.helloName)
	r.Post("/echo", a.echo)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	r.Get("/ws/events", a.events)
	return r
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID takes X-Request-Id from the caller (when it looks sane) or makes
// one, stores it in the context for logs, and echoes it in the response.
func (a *App) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// observe records the standard HTTP metrics (labelled by route pattern, not
// raw path, to bound cardinality) and writes one access log line.
func (a *App) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		path := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			path = rc.RoutePattern()
		}
		elapsed := time.Since(start)
		a.metrics.RequestsTotal.WithLabelValues(r.Method, path, strconv.Itoa(status)).Inc()
		a.metrics.RequestDuration.WithLabelValues(r.Method, path).Observe(elapsed.Seconds())
		if path != "/metrics" && path != "/live" && path != "/ready" && path != "/health" {
			a.log.Info(r.Context(), "request", "method", r.Method, "path", path,
				"status", status, "duration_ms", float64(elapsed.Microseconds())/1000)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *App) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// live never looks at dependencies: restarting the process would not fix them.
func (a *App) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// ready checks every configured dependency concurrently.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "failed": []string{"shutting-down"},
		})
		return
	}
	checks := append([]ReadinessCheck{}, a.deps.Checks...)
	if a.cfg.KafkaEnabled() {
		checks = append(checks, ReadinessCheck{Name: "kafka", Check: a.bus.Ready})
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func(c ReadinessCheck) {
			defer wg.Done()
			outcome := "ok"
			if err := c.Check(ctx); err != nil {
				outcome = err.Error()
			}
			mu.Lock()
			results[c.Name] = outcome
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	failed := []string{}
	for _, c := range checks {
		if results[c.Name] != "ok" {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		a.log.Warn(r.Context(), "not ready", "failed", failed)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "failed": failed, "checks": results,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
}

func (a *App) helloWorld(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "Hello, World!"})
}

func (a *App) helloName(w http.ResponseWriter, r *http.Request) {
	raw := chi.URLParam(r, "name")
	name, err := url.PathUnescape(raw)
	if err != nil {
		name = raw
	}
	if name == "" || len([]rune(name)) > maxNameRunes {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": fmt.Sprintf("name must be 1 to %d characters", maxNameRunes),
		})
		return
	}
	message := fmt.Sprintf("Hello, %s!", name)
	ctx := r.Context()

	if a.deps.Store != nil || a.deps.Cache != nil {
		depCtx, cancel := context.WithTimeout(ctx, storeBudget)
		if a.deps.Store != nil {
			// Fallback: the greeting is answered even when it cannot be stored.
			if err := a.deps.Store.Save(depCtx, name, message); err != nil {
				a.log.Warn(ctx, "greeting not stored", "error", err)
			}
		}
		if a.deps.Cache != nil {
			if n, err := a.deps.Cache.Increment(depCtx, name); err != nil {
				a.log.Warn(ctx, "greeting not counted", "error", err)
			} else {
				w.Header().Set("X-Greeting-Count", strconv.FormatInt(n, 10))
			}
		}
		cancel()
	}

	a.bus.Publish(ctx, NewGreetingCreated(name, message))
	writeJSON(w, http.StatusOK, map[string]string{"message": message})
}

func (a *App) echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEchoBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
		return
	}
	if !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
