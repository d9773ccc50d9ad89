package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/services"
	"github.com/openaff/affiliate/pkg/testenv"
)

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// upArgs returns `up` arguments on free ports in dir.
func upArgs(t *testing.T, dir string) []string {
	t.Helper()
	// The broker the rest of the tests use: Apache Kafka, or kfake with
	// AFF_TEST_KAFKA=kfake (pkg/testenv's switch).
	kind := testenv.Apache
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		kind = testenv.Kfake
	}
	args := []string{"up", "-dir", dir, "-kafka", kind}
	for _, f := range []string{"-pg-port", "-ch-port", "-ch-http-port", "-kafka-port"} {
		p, err := services.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, f, strconv.Itoa(p))
	}
	return args
}

// startUp runs `devstack up` until the returned stop is called, and waits
// until the stack is ready.
func startUp(t *testing.T, args []string, dir string) (stop func() int, out *syncBuffer) {
	t.Helper()
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, out, out) }()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(90 * time.Second):
				t.Errorf("devstack up did not stop 90 s after the signal:\n%s", out)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "devstack: running") {
		select {
		case code := <-done:
			done <- code // for the cleanup's stop, which would otherwise wait 90 s
			t.Fatalf("devstack up exited with %d before it was ready:\n%s", code, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack up not ready after 2 minutes:\n%s", out)
		}
	}
	return stop, out
}

func TestUpReusesRunningStackAndStopsCleanly(t *testing.T) {
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Postgres runs as nobody, who must be able to enter the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := upArgs(t, dir)
	stop, out := startUp(t, args, dir)
	st, err := readState(dir, 0)
	if err != nil {
		t.Fatalf("no state after ready: %v\n%s", err, out)
	}

	// A second `up` finds the running one and just prints where it is.
	var second bytes.Buffer
	if code := run(context.Background(), args, &second, &second); code != 0 {
		t.Fatalf("second up exited with %d:\n%s", code, second.String())
	}
	for _, want := range []string{"already running", "export AFF_POSTGRES_URL='" + st.pgURL() + "'", fmt.Sprintf("export AFF_CLICKHOUSE_ADDR=127.0.0.1:%d", st.CHPort)} {
		if !strings.Contains(second.String(), want) {
			t.Fatalf("second up output lacks %q:\n%s", want, second.String())
		}
	}

	// Migrated databases named affiliate answer; leave a mark to find after a restart.
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, st.pgURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(ctx, "CREATE TABLE devstack_kept (id int); INSERT INTO devstack_kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pg.Close(ctx)
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{fmt.Sprintf("127.0.0.1:%d", st.CHPort)}})
	if err != nil {
		t.Fatal(err)
	}
	var dbs uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", Database).Scan(&dbs); err != nil || dbs != 1 {
		t.Fatalf("clickhouse database %s: count %d, %v; want 1", Database, dbs, err)
	}
	ch.Close()
	if err := services.KafkaReady(ctx, fmt.Sprintf("127.0.0.1:%d", st.KafkaPort)); err != nil {
		t.Fatalf("kafka: %v", err)
	}

	pids := serverPids(t, dir)
	if len(pids) < 2 {
		t.Fatalf("found %d server processes under %s, want postgres and clickhouse", len(pids), dir)
	}
	if code := stop(); code != 0 {
		t.Fatalf("devstack up exited with %d after the signal:\n%s", code, out)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("process %d still runs after devstack stopped", pid)
		}
	}
	for _, p := range []int{st.PostgresPort, st.CHPort, st.KafkaPort} {
		if services.PortInUse(p) {
			t.Fatalf("port %d still answers after devstack stopped", p)
		}
	}
	if _, err := os.Stat(pidPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}

	// Up again on the same directory: Postgres data survived.
	stop2, out2 := startUp(t, args, dir)
	var got int
	pg, err = pgx.Connect(ctx, st.pgURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.QueryRow(ctx, "SELECT id FROM devstack_kept").Scan(&got); err != nil || got != 42 {
		t.Fatalf("after restart: devstack_kept id = %d, %v; want 42", got, err)
	}
	pg.Close(ctx)
	if code := stop2(); code != 0 {
		t.Fatalf("second devstack up exited with %d:\n%s", code, out2)
	}
}

// serverPids returns the processes whose command line names dir (postmaster,
// clickhouse) and the members of their process groups (Postgres backends).
func serverPids(t *testing.T, dir string) []int {
	t.Helper()
	var leaders, out []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
			leaders = append(leaders, pid)
		}
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		for _, l := range leaders {
			if len(f) > 2 && f[2] == strconv.Itoa(l) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
				out = append(out, pid)
			}
		}
	}
	return out
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestUpRefusesBusyPort(t *testing.T) {
	dir := t.TempDir()
	busy, err := services.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	kf, err := services.StartKfake(busy, 1, "") // anything listening will do
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Stop()
	args := append(upArgs(t, dir), "-pg-port", strconv.Itoa(busy))
	var out bytes.Buffer
	if code := run(context.Background(), args, &out, &out); code != 1 {
		t.Fatalf("up with a busy port exited with %d, want 1:\n%s", code, out.String())
	}
	if want := fmt.Sprintf("port %d is in use", busy); !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "-pg-port") {
		t.Fatalf("output lacks %q and the flag name:\n%s", want, out.String())
	}
}

func TestBadArguments(t *testing.T) {
	f := func(args []string, want int) {
		t.Helper()
		var out bytes.Buffer
		if code := run(context.Background(), args, &out, &out); code != want {
			t.Fatalf("run(%q) = %d, want %d:\n%s", args, code, want, out.String())
		}
	}
	f(nil, 2)                                     // no command
	f([]string{"sideways"}, 2)                    // unknown command
	f([]string{"up", "-no-such-flag"}, 2)         // unknown flag
	f([]string{"up", "-kafka", "rabbitmq"}, 1)    // unknown broker kind
	f([]string{"broker", "-dir", t.TempDir()}, 2) // -addr-file missing
	f([]string{"status", "-dir", t.TempDir()}, 0) // nothing runs: says so
}
