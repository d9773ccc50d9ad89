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
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

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

func TestServeRunConfigErrors(t *testing.T) {
	ok := map[string]string{"AFF_KAFKA_BROKERS": "127.0.0.1:9092", "AFF_POSTGRES_URL": "postgres://u@h/db", "AFF_CLICKHOUSE_ADDR": "127.0.0.1:9000"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, cmd := range []string{"serve", "run"} {
		f := func(env map[string]string, args []string, wantStderr string) {
			t.Helper()
			var stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, append([]string{cmd}, args...), mapLookup(env), &bytes.Buffer{}, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), wantStderr) {
				t.Errorf("settler %s %q with %v = %d, stderr %q; want %d naming %q", cmd, args, env, code, stderr.String(), exitUsage, wantStderr)
			}
		}
		// serve and run need the broker too, unlike migrate.
		f(with("AFF_KAFKA_BROKERS", ""), nil, "AFF_KAFKA_BROKERS: is required")
		f(with("AFF_POSTGRES_URL", ""), nil, "AFF_POSTGRES_URL: is required")
		f(with("AFF_CLICKHOUSE_ADDR", ""), nil, "AFF_CLICKHOUSE_ADDR: is required")
		f(with("AFF_LOG_FORMAT", "xml"), nil, "AFF_LOG_FORMAT")
		// The settler's own settings are checked before anything connects.
		f(with("AFF_SETTLER_MAX_WAIT", "soon"), nil, "AFF_SETTLER_MAX_WAIT")
		f(with("AFF_SETTLER_BATCH_SIZE", "0"), nil, "AFF_SETTLER_BATCH_SIZE")
		f(with("AFF_SETTLER_RELAY_BATCH_SIZE", "many"), nil, "AFF_SETTLER_RELAY_BATCH_SIZE")
		// An advisory lock per order of an ingest batch: bounded by the lock table.
		f(with("AFF_SETTLER_INGEST_BATCH_SIZE", "2001"), nil, `AFF_SETTLER_INGEST_BATCH_SIZE: "2001" is not a number from 1 to 2000`)
		f(with("AFF_SETTLER_SETTLE_SCHEDULE", "every minute"), nil, "AFF_SETTLER_SETTLE_SCHEDULE")
		f(with("AFF_SETTLER_RELAY_SCHEDULE", "@every"), nil, "AFF_SETTLER_RELAY_SCHEDULE")
		f(with("AFF_SETTLER_SHUTDOWN_GRACE", "0s"), nil, "AFF_SETTLER_SHUTDOWN_GRACE")
		f(ok, []string{"now"}, `unexpected argument "now"`)
		f(ok, []string{"-x"}, "flag provided but not defined")
	}
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

func TestRunSettlesWhatIsInKafka(t *testing.T) {
	vars, partner := settlerWorld(t)
	// One full pass as a process, exactly as an operator's cron would run it.
	out, err := settlerCmd(t, vars, "run").CombinedOutput()
	if err != nil {
		t.Fatalf("settler run: %v\n%s", err, out)
	}
	checkSettled(t, vars["AFF_POSTGRES_URL"], partner)
	if n := queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM settlement_runs WHERE finished_at IS NOT NULL AND error IS NULL`); n != 4 {
		t.Fatalf("settler run recorded %d successful job runs, want 4 (settle, auto_approve, release_reserves, relay_outbox)\n%s", n, out)
	}
	// A second pass finds nothing new and changes nothing.
	before := queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM ledger_transfers`)
	if out, err := settlerCmd(t, vars, "run").CombinedOutput(); err != nil {
		t.Fatalf("second settler run: %v\n%s", err, out)
	}
	if after := queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM ledger_transfers`); after != before {
		t.Fatalf("second settler run wrote %d ledger transfers, want none", after-before)
	}
}

func TestServeSettlesAndStopsOnSIGTERM(t *testing.T) {
	vars, partner := settlerWorld(t)
	everySecond(vars)
	cmd, out, done := startServe(t, vars)
	deadline := time.Now().Add(60 * time.Second)
	for queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM commissions`) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("settler serve settled nothing within 60 s:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("settler serve after SIGTERM: %v, want exit 0\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("settler serve did not stop within 30 s of SIGTERM:\n%s", out.String())
	}
	checkSettled(t, vars["AFF_POSTGRES_URL"], partner)
	if n := queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM settlement_runs WHERE finished_at IS NULL`); n != 0 {
		t.Fatalf("%d job runs left unfinished by a graceful stop", n)
	}
	// A run going on at SIGTERM finishes (AFF_SETTLER_SHUTDOWN_GRACE)
	// instead of being cancelled and recorded as failed.
	if n := queryInt(t, vars["AFF_POSTGRES_URL"], `SELECT count(*) FROM settlement_runs WHERE error IS NOT NULL`); n != 0 {
		t.Fatalf("%d job runs failed around a graceful stop:\n%s", n, out.String())
	}
}

// settlerWorld migrates fresh databases, records a partner's click for
// device d1 in ClickHouse with the sink watermark past it, and puts an
// order of d1 (one line of 25.00) in a fresh orders topic. It returns the
// settler's environment and the partner's id.
func settlerWorld(t *testing.T) (map[string]string, int64) {
	t.Helper()
	env := testenv.Get(t)
	vars := freshTargets(t, env)
	vars["AFF_LOG_FORMAT"] = "json"
	migrateOK(t, vars)
	vars["AFF_KAFKA_BROKERS"] = strings.Join(env.KafkaBrokers(), ",")
	vars["AFF_KAFKA_TOPIC_PREFIX"] = env.TopicPrefix(t)
	vars["AFF_SETTLER_GROUP_ID"] = "settler-" + vars["AFF_KAFKA_TOPIC_PREFIX"]
	pg := vars["AFF_POSTGRES_URL"]
	partner := int64(queryInt(t, pg, `INSERT INTO partners (name, email, slug) VALUES ('Serdar', 's@example.com', 'serdar') RETURNING id`))
	clickAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := migrate.Open(ctx, env.ClickHouseAddr(), vars["AFF_CLICKHOUSE_DB"])
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO "+vars["AFF_CLICKHOUSE_DB"]+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uuid.Must(uuid.NewV7()).String(), clickAt, "d1", fmt.Sprint(partner), "l1", uint8(0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert the click: %v", err)
	}
	queryInt(t, pg, `INSERT INTO sink_watermarks (topic, watermark) VALUES ('clicks', now()) RETURNING 1`)
	order := fmt.Sprintf(`{"v":1,"event_id":"e1","type":"order.placed","order_id":"o1","at":%q,"device_token":"d1","currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"25.00"}]}`,
		clickAt.Add(10*time.Minute).Format(time.RFC3339))
	w := &kafka.Writer{Addr: kafka.TCP(env.KafkaBrokers()...), Topic: vars["AFF_KAFKA_TOPIC_PREFIX"] + "orders",
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, AllowAutoTopicCreation: true}
	defer w.Close()
	for i := 0; ; i++ { // a fresh topic may need a moment for its leader
		err := w.WriteMessages(ctx, kafka.Message{Key: []byte("o1"), Value: []byte(order)})
		if err == nil {
			break
		}
		if i == 40 {
			t.Fatalf("produce the order: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return vars, partner
}

// checkSettled asserts that order o1 went to the partner through the device
// rule and earned the program's default rate on its line.
func checkSettled(t *testing.T, pg string, partner int64) {
	t.Helper()
	if n := queryInt(t, pg, `SELECT count(*) FROM attributions
WHERE order_id = 'o1' AND superseded_at IS NULL AND rule = 'device' AND partner_id = $1`, partner); n != 1 {
		t.Fatalf("order o1 has %d device attributions to partner %d, want 1", n, partner)
	}
	if n := queryInt(t, pg, `SELECT coalesce(sum(amount_minor), 0) FROM commissions WHERE partner_id = $1`, partner); n != 250 {
		t.Fatalf("partner %d earned %d minor units, want 250 (10%% of 25.00)", partner, n)
	}
}

// settlerCmd is the test binary acting as `settler <args>` with vars as its environment.
func settlerCmd(t *testing.T, vars map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), runAsSettler+"=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func queryInt(t *testing.T, dbURL, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return int(n)
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
	return queryInt(t, dbURL, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`, names)
}

func countGooseVersions(t *testing.T, dbURL string) int {
	t.Helper()
	return queryInt(t, dbURL, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`)
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

// TestSecondSignalEndsServe: while serve lets a running job finish
// (AFF_SETTLER_SHUTDOWN_GRACE), a second SIGTERM ends the process at once;
// it used to be swallowed, leaving only SIGKILL.
func TestSecondSignalEndsServe(t *testing.T) {
	vars, _ := settlerWorld(t)
	pg := vars["AFF_POSTGRES_URL"]
	vars["AFF_SETTLER_SETTLE_SCHEDULE"] = "@every 1s"
	vars["AFF_SETTLER_SHUTDOWN_GRACE"] = "5m"
	// Hold the settle job inside its run: every pass reads the sink
	// watermark first, and waits on this lock (a lock on a table only the
	// order step reads held nothing when the ingest had not yet queued the
	// world's orders: the pass found no work and ended).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `LOCK TABLE sink_watermarks IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	cmd, out, done := startServe(t, vars)
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	deadline := time.Now().Add(30 * time.Second)
	for queryInt(t, pg, `SELECT count(*) FROM settlement_runs WHERE job = 'settle' AND finished_at IS NULL`) == 0 ||
		queryInt(t, pg, `SELECT count(*) FROM pg_locks WHERE relation = 'sink_watermarks'::regclass AND NOT granted`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no settle run began and waited on the watermark's lock within 30 s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		t.Fatalf("serve stopped at the first SIGTERM (%v) although a run was going on and the grace is 5m:\n%s", err, out.String())
	case <-time.After(2 * time.Second): // waiting for the run, as it should
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err == nil {
			t.Errorf("serve ended by a second SIGTERM exited 0; want the signal's status")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not end within 10 s of a second SIGTERM:\n%s", out.String())
	}
}

// everySecond puts every job of vars on a 1 s schedule.
func everySecond(vars map[string]string) {
	for _, k := range []string{"AFF_SETTLER_SETTLE_SCHEDULE", "AFF_SETTLER_APPROVE_SCHEDULE", "AFF_SETTLER_RELEASE_SCHEDULE", "AFF_SETTLER_RELAY_SCHEDULE"} {
		vars[k] = "@every 1s"
	}
}

// startServe starts `settler serve` with vars; its output goes to out, and
// done receives its exit once (send it back to read it again).
func startServe(t *testing.T, vars map[string]string) (cmd *exec.Cmd, out *syncBuffer, done chan error) {
	t.Helper()
	cmd = settlerCmd(t, vars, "serve")
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, out, done
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
