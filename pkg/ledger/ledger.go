// Package ledger is the double-entry, append-only money ledger on Postgres shared by the
// settler and the dashboard.
//
// The model follows TigerBeetle: accounts carry debits_pending, credits_pending,
// debits_posted and credits_posted; a transfer is a set of postings that sums to zero per
// currency; a pending transfer reserves an amount and is later posted or voided, at most
// once (per commission, when it accrued several: AccrueGroup). Every transfer carries a
// caller-chosen idempotency key stored with a hash of the request (as in Formance Ledger):
// the same key with the same request returns the original transfer, with another request
// it is ErrIdempotencyConflict.
//
// On top sits the partner money model of DESIGN §5 (Accrue, Approve, Void, Clawback,
// payouts, store credit...). Each operation is one function and one database transaction;
// ApplyBatch runs thousands of them in one transaction. See README.md for the chart of
// accounts and the postings of every operation.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits. Every batch, amount and retry loop is bounded.
const (
	// MaxBatchOps is the largest number of operations one ApplyBatch call accepts; each
	// commission of a group accrual counts as one.
	MaxBatchOps = 20000
	// MaxAmountMinor is the largest amount, in minor units, of one operation (about 5.6e14).
	// amount × 10000 (the reserve split) still fits in an int64.
	MaxAmountMinor = int64(1) << 49
	// maxTextBytes bounds ids, references and notes.
	maxTextBytes = 200
	// maxKeyBytes bounds idempotency keys (room for a prefix before an id).
	maxKeyBytes = 256
	// DefaultMaxAttempts is how many times a transaction is tried when Postgres reports a
	// serialization failure, a deadlock or a concurrent insert of the same key.
	DefaultMaxAttempts = 8
)

// Sentinel errors. Test them with errors.Is.
var (
	// ErrIdempotencyConflict means the idempotency key was already used by a different request.
	ErrIdempotencyConflict = errors.New("idempotency key already used with a different request")
	// ErrNotFound means the referenced commission, payout, store-credit request or reserve is unknown.
	ErrNotFound = errors.New("not found")
	// ErrPendingResolved means the pending transfer was already posted or fully voided.
	ErrPendingResolved = errors.New("pending transfer already resolved")
	// ErrDuplicateReference means a commission, payout or store-credit id was already used by another key.
	ErrDuplicateReference = errors.New("reference already used")
	// ErrInsufficientFunds means the partner's available balance is lower than the amount asked for.
	ErrInsufficientFunds = errors.New("insufficient available balance")
	// ErrExceedsRemaining means a partial void, post or clawback asks for more than remains.
	ErrExceedsRemaining = errors.New("amount exceeds what remains")
	// ErrNothingToRelease means the reserve holds nothing any more (released or clawed back).
	ErrNothingToRelease = errors.New("reserve holds nothing to release")
	// ErrInvalid is wrapped by every FieldError.
	ErrInvalid = errors.New("invalid request")
)

// FieldError reports bad input; Field names the offending parameter.
type FieldError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *FieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Msg) }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// BatchError reports which operation of a batch failed; nothing of the batch was written.
type BatchError struct {
	Index int    // position of the operation in the batch
	Key   string // its idempotency key
	Err   error
}

// Error implements error.
func (e *BatchError) Error() string {
	return fmt.Sprintf("operation %d (key %q): %v", e.Index, e.Key, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// Options tunes a Ledger. The zero value is valid.
type Options struct {
	// MaxAttempts bounds the tries of one transaction on retryable errors; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// Ledger runs ledger operations on a Postgres pool. It is safe for concurrent use.
type Ledger struct {
	pool        *pgxpool.Pool
	maxAttempts int
	known       *knownAccounts
}

// New returns a Ledger on pool; the ledger migrations must have been applied.
func New(pool *pgxpool.Pool, opts Options) *Ledger {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	return &Ledger{pool: pool, maxAttempts: opts.MaxAttempts, known: &knownAccounts{m: map[acctKey]bool{}}}
}

// Transfer identifies the transfer written for one operation.
type Transfer struct {
	// ID is the transfer id (ledger_transfers.id).
	ID int64
	// Key is the idempotency key of the operation.
	Key string
	// Replayed is true when the key was already recorded with the same request, so the
	// original transfer is returned and nothing new was written.
	Replayed bool
}

// errStaleAccountCache: an account the cache of known accounts held is not in the
// database. The cache is then forgotten, so running the transaction again inserts it.
// It happens when an account one ApplyBatch call of a transaction created was seen by a
// later call of the same transaction (as already there) and remembered, and the
// transaction then rolled back; or after a database restore.
var errStaleAccountCache = errors.New("ledger account cache was stale")

// IsRetryable reports whether err is a transient conflict (serialization failure, deadlock,
// a concurrent insert of the same idempotency key or reference, or a stale cache of known
// accounts, now forgotten) after which the whole transaction may simply be run again. ApplyBatch returns such errors to its caller. Any
// unique violation counts, so a genuine duplicate fails again on every attempt: callers
// must bound their retries, as Batch does.
func IsRetryable(err error) bool {
	if errors.Is(err, errStaleAccountCache) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation: a concurrent transaction committed the same key first
		return true
	}
	return false
}

// inTx runs fn in a new transaction and retries it, at most l.maxAttempts times, while it
// fails with a retryable error. fn must not keep state between attempts.
func (l *Ledger) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{}, fn)
		if err == nil {
			return nil
		}
		if !IsRetryable(err) || attempt >= l.maxAttempts {
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		// Jittered backoff so two colliding transactions do not collide again in lockstep.
		backoff := time.Duration(attempt) * time.Millisecond * time.Duration(1+rand.IntN(5))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// Batch runs ops in one transaction (with bounded retries) and returns one Transfer per op,
// in order. Either every op takes effect or none does; a failing op is reported as a
// *BatchError naming its index.
func (l *Ledger) Batch(ctx context.Context, ops []Op) ([]Transfer, error) {
	var out []Transfer
	err := l.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = l.ApplyBatch(ctx, tx, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpSize is what op counts against MaxBatchOps: a group accrual its commissions, any other
// operation 1. A caller with more operations than one ApplyBatch takes splits them by it.
func OpSize(op Op) int {
	if g, ok := op.(interface{ commissionCount() int }); ok {
		return max(1, g.commissionCount())
	}
	return 1
}

// ApplyBatch applies ops inside the caller's transaction tx, which must be on the ledger's
// database. Idempotency holds per operation. On error the caller must roll tx back; when
// IsRetryable(err) the caller may run the transaction again.
func (l *Ledger) ApplyBatch(ctx context.Context, tx pgx.Tx, ops []Op) ([]Transfer, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if len(ops) > MaxBatchOps {
		return nil, &FieldError{Field: "ops", Msg: fmt.Sprintf("%d operations, at most %d per batch", len(ops), MaxBatchOps)}
	}
	reqs := make([]request, len(ops))
	size := 0
	for i, op := range ops {
		r, err := newRequest(op)
		if err != nil {
			return nil, &BatchError{Index: i, Key: opKey(op), Err: err}
		}
		reqs[i] = r
		size += OpSize(op)
	}
	if size > MaxBatchOps {
		return nil, &FieldError{Field: "ops", Msg: fmt.Sprintf("%d operations (a group accrual counts its commissions), at most %d per batch", size, MaxBatchOps)}
	}
	e := newEngine(tx, reqs, l.known)
	if err := e.run(ctx); err != nil {
		return nil, err
	}
	return e.results, nil
}

// maxKnownAccounts bounds the cache of accounts known to exist.
const maxKnownAccounts = 1 << 20

// knownAccounts remembers accounts known to be committed, so that a batch inserts only
// accounts it has not seen yet. Accounts are never deleted, so an entry never goes stale.
type knownAccounts struct {
	mu sync.Mutex
	m  map[acctKey]bool
}

// unknown returns the keys not known to exist.
func (k *knownAccounts) unknown(keys []acctKey) []acctKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []acctKey
	for _, key := range keys {
		if !k.m[key] {
			out = append(out, key)
		}
	}
	return out
}

// add records keys as committed accounts.
func (k *knownAccounts) add(keys []acctKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m)+len(keys) > maxKnownAccounts {
		clear(k.m) // a bound, not an eviction policy: the next batches re-learn what they use
	}
	for _, key := range keys {
		k.m[key] = true
	}
}

// forget empties the set.
func (k *knownAccounts) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.m)
}

// one runs a single operation in its own transaction.
func (l *Ledger) one(ctx context.Context, op Op) (Transfer, error) {
	out, err := l.Batch(ctx, []Op{op})
	if err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			err = be.Err
		}
		return Transfer{}, err
	}
	return out[0], nil
}
