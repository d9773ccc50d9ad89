// Package storage is the dashboard's plain-SQL access to Postgres: one file
// per aggregate, no ORM. Every method takes a context; "not found" is the
// sentinel ErrNotFound, never a nil result.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrNotFound reports that the requested row does not exist (or is not
	// visible to the caller, e.g. another partner's row).
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a state that forbids the change, such as a decided
	// application or a bound customer.
	ErrConflict = errors.New("conflict")
)

// FieldError names the input field that made a write fail (a unique value
// already taken, a check constraint). It wraps ErrConflict or is a plain
// validation error.
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the wrapped sentinel, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// Storage wraps the Postgres connection pool.
type Storage struct {
	pool *pgxpool.Pool
}

// New returns a Storage over pool.
func New(pool *pgxpool.Pool) *Storage { return &Storage{pool: pool} }

// Pool returns the underlying pool (for the ledger and for tests).
func (s *Storage) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that Postgres answers.
func (s *Storage) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Page is a keyset-free offset page bounded by MaxPageSize; lists are
// ordered by a unique key so pages are stable.
type Page struct {
	Number int // 1-based
	Size   int
}

// MaxPageSize bounds every list query.
const MaxPageSize = 200

// DefaultPageSize is used when a page size is not given.
const DefaultPageSize = 50

// MaxPageNumber bounds OFFSET so a crafted page number cannot make Postgres
// scan a million rows to skip them.
const MaxPageNumber = 20000

// Normalize clamps the page to sane bounds.
func (p Page) Normalize() Page {
	if p.Size <= 0 {
		p.Size = DefaultPageSize
	}
	if p.Size > MaxPageSize {
		p.Size = MaxPageSize
	}
	if p.Number < 1 {
		p.Number = 1
	}
	if p.Number > MaxPageNumber {
		p.Number = MaxPageNumber
	}
	return p
}

// Offset returns the SQL OFFSET of the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Storage) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot begin transaction: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("cannot commit: %w", err)
	}
	return nil
}

// uniqueViolation maps a unique violation to a FieldError naming field,
// chosen by the violated constraint name.
func uniqueViolation(err error, fields map[string]string) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Code == "23505" {
		for key, field := range fields {
			if strings.Contains(pe.ConstraintName, key) {
				return &FieldError{Field: field, Msg: "is already taken", Err: ErrConflict}
			}
		}
		return &FieldError{Field: "", Msg: "already exists", Err: ErrConflict}
	}
	if pe.Code == "23514" { // check violation
		for key, field := range fields {
			if strings.Contains(pe.ConstraintName, key) || strings.Contains(pe.Message, key) {
				return &FieldError{Field: field, Msg: "is not allowed"}
			}
		}
	}
	return err
}

// durationArg turns a Go duration into an exact interval expression
// argument: SQL uses ($n::bigint * interval '1 microsecond').
func durationArg(d time.Duration) int64 { return d.Microseconds() }
