package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
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

// A scheduled run that cannot begin (here: no connection) is logged with
// its job's name; before, only ErrLocked was looked at and such errors
// vanished, so jobs could stop without a trace.
func TestScheduleLogsRunsThatCannotStart(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	r := NewRunner(pool, log)
	pool.Close() // every Acquire fails
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Schedule(ctx, r, []Job{{Name: "settle", Spec: "@every 1s", Run: func(context.Context, time.Time) (any, error) {
		t.Error("the job ran without a connection")
		return nil, nil
	}}}, time.Minute, log)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"msg":"job did not run"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged within 10 s; log:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	line := out.String()
	if !strings.Contains(line, `"job":"settle"`) || !strings.Contains(line, "cannot get a connection for job settle") {
		t.Fatalf("logged %s, want the job's name and the error", line)
	}
}

// errorText keeps the recorded error storable: Postgres refuses invalid
// UTF-8 and NUL in text, and a byte cut through a character once failed
// the UPDATE that ends the run, leaving it "running" for ever.
func TestErrorText(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := errorText(errors.New(in)); got != want {
			t.Fatalf("errorText(%q) = %q, want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f("nul\x00 and \xff byte", "nul and \uFFFD byte")
	// Cut at maxErrorBytes, which falls inside the last 'é' here.
	long := "x" + strings.Repeat("é", maxErrorBytes/2+10)
	f(long, long[:maxErrorBytes-1])
	// A 4-byte character across the cut goes whole.
	f(strings.Repeat("a", maxErrorBytes-2)+"😀b", strings.Repeat("a", maxErrorBytes-2))
	// Exactly at the bound stays.
	f(strings.Repeat("é", maxErrorBytes/2), strings.Repeat("é", maxErrorBytes/2))
}

// A run failing with a long error of non-ASCII text is recorded as
// finished, with its error cut at a character boundary.
func TestLongNonASCIIErrorIsRecorded(t *testing.T) {
	rs, pool := replicas(t, 1)
	msg := "failure: " + strings.Repeat("é", maxErrorBytes) // 9 bytes, then 2 per character: the cut falls inside one
	err := rs[0].Run(context.Background(), Job{Name: "long", Run: func(context.Context, time.Time) (any, error) {
		return nil, errors.New(msg)
	}}, false)
	if err == nil || err.Error() != msg {
		t.Fatalf("Run = %v, want the job's error", err)
	}
	var finished bool
	var recorded string
	if err := pool.QueryRow(context.Background(), `SELECT finished_at IS NOT NULL, error FROM settlement_runs WHERE job = 'long'`).Scan(&finished, &recorded); err != nil {
		t.Fatal(err)
	}
	if !finished || !utf8.ValidString(recorded) || len(recorded) > maxErrorBytes || len(recorded) < maxErrorBytes-3 || !strings.HasPrefix(msg, recorded) {
		t.Fatalf("recorded finished=%v, error of %d bytes (valid UTF-8 %v); want finished, a prefix of at most %d bytes",
			finished, len(recorded), utf8.ValidString(recorded), maxErrorBytes)
	}
}

// A run going on when serve shuts down (ctx done) finishes within the
// grace period and is recorded as a success; no new run starts.
func TestShutdownLetsRunningJobsFinish(t *testing.T) {
	rs, pool := replicas(t, 1)
	started := make(chan struct{}, 10)
	job := Job{Name: "settle", Spec: "@every 1s", Run: func(ctx context.Context, now time.Time) (any, error) {
		started <- struct{}{}
		select {
		case <-time.After(time.Second):
			return map[string]int{"settled": 1}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Schedule(ctx, rs[0], []Job{job}, time.Minute, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}
	cancel() // SIGTERM
	select {
	case <-c.Stop().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	var runs, ok int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE finished_at IS NOT NULL AND error IS NULL)
FROM settlement_runs WHERE job = 'settle'`).Scan(&runs, &ok); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || ok != 1 {
		t.Fatalf("%d runs, %d finished without error; want the one run, finished", runs, ok)
	}
}

// A run that outlasts the grace period has its context cancelled, so
// shutdown waits a bounded time; the run is recorded with the error.
func TestShutdownGraceIsBounded(t *testing.T) {
	rs, pool := replicas(t, 1)
	started := make(chan struct{}, 10)
	job := Job{Name: "settle", Spec: "@every 1s", Run: func(ctx context.Context, now time.Time) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	const grace = 300 * time.Millisecond
	c, err := Schedule(ctx, rs[0], []Job{job}, grace, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}
	cancel()
	began := time.Now()
	select {
	case <-c.Stop().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	if took := time.Since(began); took < grace {
		t.Fatalf("the run was cancelled after %s, before the grace period of %s", took, grace)
	}
	var recorded string
	if err := pool.QueryRow(context.Background(), `SELECT error FROM settlement_runs WHERE job = 'settle' AND finished_at IS NOT NULL`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != context.Canceled.Error() {
		t.Fatalf("recorded error %q, want %q", recorded, context.Canceled)
	}
}
