// Package jobs runs the settler's scheduled jobs: each run holds a Postgres
// advisory lock for its job (so two replicas never run the same job at
// once), recovers from panics, and is recorded in settlement_runs with its
// start, end, counts and error. Schedule puts the jobs on robfig/cron in
// UTC, skipping a tick while the previous run of that job is still going.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"
)

// Job is one named unit of scheduled work.
type Job struct {
	// Name identifies the job in settlement_runs and in its lock ("settle").
	Name string
	// Spec is its robfig/cron schedule ("* * * * *", "@every 10s").
	Spec string
	// Run does the work as of now and returns counts to record (marshalled
	// to a JSON object).
	Run func(ctx context.Context, now time.Time) (any, error)
}

// ErrLocked means another process holds the job's lock: the run was skipped.
var ErrLocked = errors.New("job is running elsewhere")

// maxErrorBytes bounds the error text stored with a run (the column allows 10000).
const maxErrorBytes = 4000

// startError is an error before a run began (no connection, no lock, no
// run recorded): Run returns it without logging or recording it.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// Runner runs jobs under their locks and records them.
type Runner struct {
	pool *pgxpool.Pool
	host string
	log  *slog.Logger
	// Now returns the time a run works as of; time.Now by default.
	Now func() time.Time
	// LockCheck is how often a run's lock connection is checked (0: every
	// 10 s). The lock lives on that connection, idle while the job works on
	// others: a connection dropped meanwhile (a Postgres restart or
	// failover, idle_session_timeout, a NAT or firewall timing out an idle
	// flow) releases the lock while the job goes on, and another replica
	// may start the same job. A failed check cancels the run.
	LockCheck time.Duration
	// Observe, when set, is told of every run's outcome: OutcomeOK or
	// OutcomeFailed with the run's duration (from Run), OutcomeSkipped
	// (another process holds the lock) or OutcomeNotStarted (no
	// connection, lock or record) from scheduled runs.
	Observe func(job, outcome string, took time.Duration)
}

// The outcomes of a run, for Runner.Observe.
const (
	OutcomeOK         = "ok"
	OutcomeFailed     = "failed"
	OutcomeSkipped    = "skipped"
	OutcomeNotStarted = "not_started"
)

func (r *Runner) observe(job, outcome string, took time.Duration) {
	if r.Observe != nil {
		r.Observe(job, outcome, took)
	}
}

// NewRunner returns a Runner recording runs as made by this host.
func NewRunner(pool *pgxpool.Pool, log *slog.Logger) *Runner {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return &Runner{pool: pool, host: fmt.Sprintf("%s/%d", host, os.Getpid()), log: log, Now: time.Now}
}

// LockKey is the advisory lock key of a job: a hash of its name in a
// settler namespace, so it does not collide with other users of advisory
// locks (goose uses its own fixed key).
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("openaff/settler/job/" + name))
	return int64(h.Sum64())
}

// Run runs job once. With wait it waits for the job's lock (bounded by
// ctx); without, it returns ErrLocked at once when another process holds
// it. A panic in the job is recovered and recorded as its error. The job's
// own failure is logged and recorded in settlement_runs; an error before
// the run began (no connection, lock or record) is only returned.
func (r *Runner) Run(ctx context.Context, job Job, wait bool) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return &startError{fmt.Errorf("cannot get a connection for job %s: %w", job.Name, err)}
	}
	// The lock is a session lock: it lives on this connection, so a crashed
	// process releases it when its connection drops.
	defer conn.Release()
	key := LockKey(job.Name)
	if wait {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return &startError{fmt.Errorf("cannot lock job %s: %w", job.Name, err)}
		}
	} else {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			return &startError{fmt.Errorf("cannot lock job %s: %w", job.Name, err)}
		}
		if !ok {
			return ErrLocked
		}
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Closing the connection drops the lock for sure.
			conn.Conn().Close(uctx)
		}
	}()
	// Records go through the locked connection too: taking a second one
	// from the pool could wait forever behind runs queued on the lock.
	var id int64
	if err := conn.QueryRow(ctx, `INSERT INTO settlement_runs (job, host) VALUES ($1, $2) RETURNING id`, job.Name, r.host).Scan(&id); err != nil {
		return &startError{fmt.Errorf("cannot record start of job %s: %w", job.Name, err)}
	}
	start := time.Now()
	runCtx, stopCheck := r.checkLock(ctx, conn, job.Name)
	counts, runErr := r.call(runCtx, job)
	if cause := stopCheck(); cause != nil {
		// Failed even when the job returned nil: another replica may have
		// run it meanwhile.
		if runErr != nil {
			runErr = fmt.Errorf("%w (%w)", cause, runErr)
		} else {
			runErr = cause
		}
	}
	took := time.Since(start)
	r.finish(conn, id, job.Name, counts, runErr, took)
	if runErr != nil {
		r.observe(job.Name, OutcomeFailed, took)
	} else {
		r.observe(job.Name, OutcomeOK, took)
	}
	return runErr
}

// errLockLost cancels a run whose lock connection failed.
var errLockLost = errors.New("lost the job's lock: its Postgres connection failed")

// checkLock checks conn (the lock's connection) every r.LockCheck while the
// run goes on, and cancels the returned context when a check fails. stop
// ends the checks (and waits for them: conn is used again afterwards) and
// returns errLockLost when a check failed.
func (r *Runner) checkLock(ctx context.Context, conn *pgxpool.Conn, name string) (context.Context, func() error) {
	every := r.LockCheck
	if every <= 0 {
		every = 10 * time.Second
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var lost atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			// A generous timeout: a check that times out closes the
			// connection, which releases the lock of a healthy run.
			cctx, cancelCheck := context.WithTimeout(context.WithoutCancel(ctx), max(3*every, 30*time.Second))
			_, err := conn.Exec(cctx, `SELECT 1`)
			cancelCheck()
			if err != nil {
				lost.Store(true)
				r.log.Error("job's lock connection failed: cancelling the run (another replica may take the job)", "job", name, "error", err)
				cancel(errLockLost)
				return
			}
		}
	})
	return runCtx, func() error {
		close(done)
		wg.Wait()
		cancel(nil)
		if lost.Load() {
			return errLockLost
		}
		return nil
	}
}

// call runs the job, turning a panic into an error.
func (r *Runner) call(ctx context.Context, job Job) (counts any, err error) {
	defer func() {
		if p := recover(); p != nil {
			stack := debug.Stack()
			if w, ok := p.(interface{ Stack() []byte }); ok {
				stack = w.Stack() // raised again from another goroutine
			}
			r.log.Error("job panicked", "job", job.Name, "panic", fmt.Sprint(p), "stack", string(stack))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return job.Run(ctx, r.Now().UTC())
}

// finish records the end of a run. It uses its own context so that a run
// cut short by shutdown is still recorded.
func (r *Runner) finish(conn *pgxpool.Conn, id int64, name string, counts any, runErr error, took time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := []byte("{}")
	if counts != nil {
		if b, err := json.Marshal(counts); err == nil && len(b) > 0 && b[0] == '{' {
			body = b
		}
	}
	var errText *string
	if runErr != nil {
		s := errorText(runErr)
		errText = &s
		r.log.Error("job failed", "job", name, "error", runErr, "duration", took)
	} else {
		r.log.Info("job done", "job", name, "counts", string(body), "duration", took)
	}
	const update = `UPDATE settlement_runs SET finished_at = greatest(now(), started_at), counts = $2, error = $3 WHERE id = $1`
	if _, err := conn.Exec(ctx, update, id, body, errText); err != nil {
		// The lock's connection may be gone (errLockLost): record the end
		// through another one rather than leave the run "running".
		if _, err2 := r.pool.Exec(ctx, update, id, body, errText); err2 != nil {
			r.log.Error("cannot record end of job", "job", name, "error", errors.Join(err, err2))
		}
	}
}

// errorText is err's text as settlement_runs.error can hold it: valid
// UTF-8 without NUL bytes (Postgres refuses either in text, and the run
// would then stay "running" for ever), at most maxErrorBytes, cut at a
// character boundary.
func errorText(err error) string {
	s := strings.ReplaceAll(strings.ToValidUTF8(err.Error(), "\uFFFD"), "\x00", "")
	if len(s) > maxErrorBytes {
		// A character cut in two is invalid UTF-8, which this drops.
		s = strings.ToValidUTF8(s[:maxErrorBytes], "")
	}
	return s
}

// Schedule adds every job to a new cron in UTC, each tick running the job
// through r without waiting for its lock. Ticks that find the previous run
// of the same job still going are skipped, and so are ticks after ctx is
// done. Start the cron, and Stop it to wait for running jobs.
//
// A run does not end with ctx: a settlement pass cut short by shutdown
// would be recorded as failed and redone by the next pass. Runs keep going
// for up to grace after ctx is done; then their context is cancelled, so
// that Stop's wait has a bound (grace, plus the time a run takes to return
// after its context ends).
//
// Every error is logged with its job's name: a failed run by Run (and
// recorded), the rest here, ErrLocked at debug level only.
func Schedule(ctx context.Context, r *Runner, jobs []Job, grace time.Duration, log *slog.Logger) (*cron.Cron, error) {
	cl := cronLogger{log}
	c := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	runCtx := outlive(ctx, grace)
	for _, j := range jobs {
		if _, err := c.AddFunc(j.Spec, func() {
			if ctx.Err() != nil {
				return // shutting down: start nothing new
			}
			var se *startError
			switch err := r.Run(runCtx, j, false); {
			case errors.Is(err, ErrLocked):
				log.Debug("job skipped: running elsewhere", "job", j.Name)
				r.observe(j.Name, OutcomeSkipped, 0)
			case errors.As(err, &se):
				log.Error("job did not run", "job", j.Name, "error", err)
				r.observe(j.Name, OutcomeNotStarted, 0)
			}
		}); err != nil {
			return nil, fmt.Errorf("job %s: bad schedule %q: %w", j.Name, j.Spec, err)
		}
	}
	return c, nil
}

// outlive returns a context with ctx's values that is cancelled grace
// after ctx is done.
func outlive(ctx context.Context, grace time.Duration) context.Context {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return out
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "error", err)...)
}
