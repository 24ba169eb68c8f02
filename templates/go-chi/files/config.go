package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is read once from the environment at start-up. The variable names
// are shared by every blissful-infra template.
type Config struct {
	Port          int
	KafkaBrokers  []string // empty: Kafka disabled, events stay in-process
	DatabaseURL   string   // empty: no Postgres
	RedisURL      string   // empty: no Redis
	LogLevel      Level
	Version       string
	ShutdownGrace time.Duration
}

func LoadConfig() Config {
	return Config{
		Port:          envInt("PORT", 8080),
		KafkaBrokers:  splitList(os.Getenv("KAFKA_BOOTSTRAP_SERVERS")),
		DatabaseURL:   strings.TrimSpace(os.Getenv("DATABASE_URL")),
		RedisURL:      strings.TrimSpace(os.Getenv("REDIS_URL")),
		LogLevel:      ParseLevel(os.Getenv("LOG_LEVEL")),
		Version:       firstNonEmpty(os.Getenv("SERVICE_VERSION"), os.Getenv("VERSION"), "dev"),
		ShutdownGrace: time.Duration(envInt("SHUTDOWN_GRACE_SECONDS", 10)) * time.Second,
	}
}

// KafkaEnabled reports whether a bootstrap server list was given.
func (c Config) KafkaEnabled() bool { return len(c.KafkaBrokers) > 0 }

func envInt(name string, fallback int) int {
	raw := strings.TrimSpace(os.Getenv(name))
	if raw == "" {
		return fallback
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v < 0 {
		return fallback
	}
	return v
}

func splitList(raw string) []string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if s := strings.TrimSpace(v); s != "" {
			return s
		}
	}
	return ""
}
