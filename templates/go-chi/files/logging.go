package main

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Level orders log severities.
type Level int

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

func (l Level) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	default:
		return "info"
	}
}

// ParseLevel maps LOG_LEVEL values (debug, info, warn/warning, error) to a
// Level; anything else means info.
func ParseLevel(raw string) Level {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "debug", "trace":
		return LevelDebug
	case "warn", "warning":
		return LevelWarn
	case "error":
		return LevelError
	default:
		return LevelInfo
	}
}

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns a context carrying the request id, which every log
// line written with that context includes as request_id and trace_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id stored in ctx, or "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Logger writes one JSON object per line.
type Logger struct {
	mu      sync.Mutex
	out     io.Writer
	level   Level
	service string
	version string
}

func NewLogger(out io.Writer, level Level, service, version string) *Logger {
	return &Logger{out: out, level: level, service: service, version: version}
}

func (l *Logger) Debug(ctx context.Context, msg string, kv ...any) {
	l.log(ctx, LevelDebug, msg, kv)
}
func (l *Logger) Info(ctx context.Context, msg string, kv ...any) { l.log(ctx, LevelInfo, msg, kv) }
func (l *Logger) Warn(ctx context.Context, msg string, kv ...any) { l.log(ctx, LevelWarn, msg, kv) }
func (l *Logger) Error(ctx context.Context, msg string, kv ...any) {
	l.log(ctx, LevelError, msg, kv)
}

// log encodes the standard fields followed by key/value pairs; a key that is
// not a string is written under "field<N>".
func (l *Logger) log(ctx context.Context, level Level, msg string, kv []any) {
	if level < l.level {
		return
	}
	entry := map[string]any{
		"ts":      time.Now().UTC().Format(time.RFC3339Nano),
		"level":   level.String(),
		"msg":     msg,
		"service": l.service,
		"version": l.version,
	}
	if id := RequestID(ctx); id != "" {
		entry["request_id"] = id
		entry["trace_id"] = id
	}
	for i := 0; i+1 < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok || key == "" {
			key = "field" + strconv.Itoa(i)
		}
		value := kv[i+1]
		if err, isErr := value.(error); isErr && err != nil {
			value = err.Error()
		}
		entry[key] = value
	}
	line, err := json.Marshal(entry)
	if err != nil {
		line = []byte(`{"level":"error","msg":"log entry could not be encoded"}`)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.out.Write(append(line, '\n'))
}
