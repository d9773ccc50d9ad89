package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
)

// runAsSettler makes the test binary behave as the settler binary when set,
// so tests can start real settler processes without building one.
const runAsSettler = "AFF_TEST_RUN_SETTLER"

func TestMain(m *testing.M) {
	if os.Getenv(runAsSettler) == "1" {
		main()
		return
	}
	os.Exit(testenv.Main(m))
}

func TestUsage(t *testing.T) {
	f := func(args []string, wantCode int, wantStderr string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, mapLookup(nil), &stdout, &stderr)
		if code != wantCode || !strings.Contains(stderr.String(), wantStderr) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and stderr containing %q", args, code, stderr.String(), wantCode, wantStderr)
		}
	}
	// No command: usage on stderr, exit 2.
	f(nil, exitUsage, "usage: settler")
	// A typo must not silently do nothing.
	f([]string{"migrat"}, exitUsage, `unknown command "migrat"`)
	// Help goes to stdout and succeeds.
	f([]string{"help"}, exitOK, "")
	// Stray arguments are refused.
	f([]string{"migrate", "now"}, exitUsage, `unexpected argument "now"`)
}

func TestMigrateConfigErrors(t *testing.T) {
	f := func(env map[string]string, wantStderr string) {
		t.Helper()
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"migrate"}, mapLookup(env), &bytes.Buffer{}, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), wantStderr) {
			t.Errorf("settler migrate with %v = %d, stderr %q; want %d naming %q", env, code, stderr.String(), exitUsage, wantStderr)
		}
	}
	// The operator must learn which variable is missing.
	f(map[string]string{"AFF_CLICKHOUSE_ADDR": "127.0.0.1:9000"}, "AFF_POSTGRES_URL: is required")
	f(map[string]string{"AFF_POSTGRES_URL": "postgres://u@h/db"}, "AFF_CLICKHOUSE_ADDR: is required")
	f(map[string]string{"AFF_POSTGRES_URL": "mysql://u@h/db", "AFF_CLICKHOUSE_ADDR": "127.0.0.1:9000"}, "AFF_POSTGRES_URL: must be a postgres:// URL")
	f(map[string]string{"AFF_POSTGRES_URL": "postgres://u@h/db", "AFF_CLICKHOUSE_ADDR": "127.0.0.1:9000", "AFF_CLICKHOUSE_DB": "a-b"}, "AFF_CLICKHOUSE_DB")
	f(map[string]string{"AFF_POSTGRES_URL": "postgres://u@h/db", "AFF_CLICKHOUSE_ADDR": "127.0.0.1:9000", "AFF_LOG_FORMAT": "xml"}, "AFF_LOG_FORMAT")
}

func TestMigrateUnreachableFails(t *testing.T) {
	// A port nothing listens on: exit 1 (a failure, not a usage error), quickly.
	env := map[string]string{
		"AFF_POSTGRES_URL":    "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
		"AFF_CLICKHOUSE_ADDR": "127.0.0.1:1",
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"migrate", "-timeout", "10s"}, mapLookup(env), &bytes.Buffer{}, &stderr)
	if code != exitFailed || !strings.Contains(stderr.String(), "migration failed") {
		t.Fatalf("settler migrate against nothing = %d, stderr %q; want %d and \"migration failed\"", code, stderr.String(), exitFailed)
	}
}

func TestMigrateTwice(t *testing.T) {
	env := testenv.Get(t)
	vars := freshTargets(t, env)
	vars["AFF_LOG_FORMAT"] = "json"

	first := migrateOK(t, vars)
	if first["postgres"] == 0 || first["clickhouse"] == 0 {
		t.Fatalf("first settler migrate applied %v, want Postgres and ClickHouse migrations", first)
	}
	second := migrateOK(t, vars)
	if second["postgres"] != 0 || second["clickhouse"] != 0 {
		t.Fatalf("second settler migrate applied %v, want nothing", second)
	}
	if n := countPostgresTables(t, vars["AFF_POSTGRES_URL"], "partners", "orders", "commissions", "outbox"); n != 4 {
		t.Fatalf("found %d of 4 foundation tables after settler migrate", n)
	}
	if n := countClickHouseTables(t, env.ClickHouseAddr(), vars["AFF_CLICKHOUSE_DB"]); n == 0 {
		t.Fatalf("no ClickHouse tables in %s after settler migrate", vars["AFF_CLICKHOUSE_DB"])
	}
}

func TestMigrateTwoProcessesAtOnce(t *testing.T) {
	env := testenv.Get(t)
	vars := freshTargets(t, env)
	vars["AFF_LOG_FORMAT"] = "json"
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const procs = 2
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, self, "migrate", "-timeout", "60s")
			cmd.Env = append(os.Environ(), runAsSettler+"=1")
			for k, v := range vars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	applied := 0
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("settler migrate process %d: %v\n%s", i, errs[i], outs[i])
		}
		applied += appliedCounts(t, outs[i])["postgres"]
	}
	want := countGooseVersions(t, vars["AFF_POSTGRES_URL"])
	if applied != want {
		t.Fatalf("two settler migrate processes applied %d Postgres migrations in total, want each of the %d once", applied, want)
	}
	if again := migrateOK(t, vars); again["postgres"] != 0 || again["clickhouse"] != 0 {
		t.Fatalf("settler migrate after the concurrent pair applied %v, want nothing", again)
	}
}

// migrateOK runs `settler migrate` in process and returns how many
// migrations it reports applying per database.
func migrateOK(t *testing.T, vars map[string]string) map[string]int {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"migrate", "-timeout", "60s"}, mapLookup(vars), &stdout, &stderr); code != exitOK {
		t.Fatalf("settler migrate = %d, want 0; log:\n%s", code, stderr.String())
	}
	return appliedCounts(t, stderr.Bytes())
}

// appliedCounts reads the JSON log of a migrate run: the "applied" field of
// its "... schema up to date" lines, by database.
func appliedCounts(t *testing.T, log []byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Applied *int   `json:"applied"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("settler migrate log line %q is not JSON: %v", sc.Text(), err)
		}
		db, ok := strings.CutSuffix(line.Msg, " schema up to date")
		if !ok {
			continue
		}
		if line.Applied == nil {
			t.Fatalf("log line %q has no applied count", sc.Text())
		}
		out[db] = *line.Applied
		seen++
	}
	if seen != 2 {
		t.Fatalf("settler migrate logged %d \"schema up to date\" lines, want 2:\n%s", seen, log)
	}
	return out
}

// freshTargets returns the environment of a settler pointing at an empty
// Postgres database and a ClickHouse database that does not exist yet.
func freshTargets(t *testing.T, env *testenv.Env) map[string]string {
	t.Helper()
	admin := env.PostgresAdminURL()
	stamp := time.Now().UnixNano()
	pgName := fmt.Sprintf("settler_%d", stamp)
	chName := fmt.Sprintf("settler_%d", stamp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pgExec(t, ctx, admin, "CREATE DATABASE "+pgName)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pgExec(t, ctx, admin, "DROP DATABASE IF EXISTS "+pgName+" WITH (FORCE)")
		if conn, err := migrate.Open(ctx, env.ClickHouseAddr(), "default"); err == nil {
			if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+chName); err != nil {
				t.Logf("cannot drop ClickHouse database %s: %v", chName, err)
			}
			conn.Close()
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + pgName
	return map[string]string{
		"AFF_POSTGRES_URL":    u.String(),
		"AFF_CLICKHOUSE_ADDR": env.ClickHouseAddr(),
		"AFF_CLICKHOUSE_DB":   chName,
	}
}

func pgExec(t *testing.T, ctx context.Context, dbURL, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func countPostgresTables(t *testing.T, dbURL string, names ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`, names).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func countGooseVersions(t *testing.T, dbURL string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countClickHouseTables(t *testing.T, addr, db string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := migrate.Open(ctx, addr, "default")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ?", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
