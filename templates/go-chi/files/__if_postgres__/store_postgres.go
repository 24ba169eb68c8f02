package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

const greetingsSchema = `CREATE TABLE IF NOT EXISTS greetings (
	id         BIGSERIAL PRIMARY KEY,
	name       TEXT        NOT NULL,
	message    TEXT        NOT NULL,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// PostgresStore stores greetings. Every call goes through a breaker with
// retries and timeouts; the schema is created on first successful use, so
// the service starts even when the database is down.
type PostgresStore struct {
	db       *sql.DB
	guard    *Guard
	log      *Logger
	migrated atomic.Bool
}

func NewPostgresStore(url string, m *Metrics, log *Logger) (*PostgresStore, error) {
	// pgx accepts postgres:// and postgresql:// URLs and key=value DSNs, and
	// defaults to sslmode=prefer.
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(5)
	db.SetConnMaxLifetime(30 * time.Minute)
	return &PostgresStore{
		db: db,
		guard: NewGuard("postgres", m, RetryPolicy{
			Attempts: 3, BaseDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
			AttemptTimeout: 1 * time.Second,
		}),
		log: log,
	}, nil
}

func (s *PostgresStore) ensureSchema(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, greetingsSchema); err != nil {
		return fmt.Errorf("create greetings table: %w", err)
	}
	s.migrated.Store(true)
	return nil
}

func (s *PostgresStore) Save(ctx context.Context, name, message string) error {
	return s.guard.Do(ctx, func(ctx context.Context) error {
		if err := s.ensureSchema(ctx); err != nil {
			return err
		}
		_, err := s.db.ExecContext(ctx, `INSERT INTO greetings (name, message) VALUES ($1, $2)`, name, message)
		return err
	})
}

// Count returns how many greetings were stored for name.
func (s *PostgresStore) Count(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.guard.Do(ctx, func(ctx context.Context) error {
		if err := s.ensureSchema(ctx); err != nil {
			return err
		}
		return s.db.QueryRowContext(ctx, `SELECT count(*) FROM greetings WHERE name = $1`, name).Scan(&n)
	})
	return n, err
}

func (s *PostgresStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.db.PingContext(ctx)
}

func (s *PostgresStore) Close() error { return s.db.Close() }
