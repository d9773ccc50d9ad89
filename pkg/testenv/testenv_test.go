package testenv_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Prestart(testenv.PostgresService, testenv.ClickHouseService, testenv.KafkaService)))
}

// TestPrestartedServersAnswer runs first: it waits for the three servers
// Prestart started in parallel and says how long they took.
func TestPrestartedServersAnswer(t *testing.T) {
	env := testenv.Get(t)
	if got := pgQueryInt(t, env.PostgresAdminURL(), "SELECT 1"); got != 1 {
		t.Fatalf("postgres SELECT 1 = %d", got)
	}
	chConn(t, env.ClickHouseAddr(), "default")
	if len(env.KafkaBrokers()) == 0 {
		t.Fatal("no kafka brokers")
	}
	t.Logf("postgres, clickhouse and kafka ready %v after testenv.Main began", testenv.SinceMain().Round(time.Millisecond))
}

func pgQueryInt(t *testing.T, url, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func pgExec(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestPostgresAnswers(t *testing.T) {
	env := testenv.Get(t)
	if got := pgQueryInt(t, env.PostgresURL(t), "SELECT 1"); got != 1 {
		t.Fatalf("SELECT 1 = %d, want 1", got)
	}
	if got := pgQueryInt(t, env.PostgresAdminURL(), "SELECT count(*) FROM pg_database WHERE datname = 'postgres'"); got != 1 {
		t.Fatalf("admin URL: pg_database has %d rows for postgres, want 1", got)
	}
}

func TestPostgresDatabasesAreFreshAndIsolated(t *testing.T) {
	env := testenv.Get(t)
	a, b := env.PostgresURL(t), env.PostgresURL(t)
	if a == b {
		t.Fatalf("PostgresURL returned %q twice", a)
	}
	pgExec(t, a, "CREATE TABLE only_in_a (id int)")
	pgExec(t, a, "INSERT INTO only_in_a VALUES (1)")
	q := "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'"
	if got := pgQueryInt(t, a, q); got != 1 {
		t.Fatalf("database a: %d tables only_in_a, want 1", got)
	}
	if got := pgQueryInt(t, b, q); got != 0 {
		t.Fatalf("database b sees %d tables only_in_a, want 0", got)
	}
	// Both are copies of the migrated template: same set of tables.
	all := "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
	if na, nb := pgQueryInt(t, a, all), pgQueryInt(t, b, all); na != nb+1 {
		t.Fatalf("public tables: a has %d, b has %d; want a = b+1", na, nb)
	}
}

func chConn(t *testing.T, addr, db string) clickhouse.Conn {
	t.Helper()
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("clickhouse open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func chCount(t *testing.T, c clickhouse.Conn, sql string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// chInsert inserts ids into table's column id. A batch, because an INSERT
// sent through Exec waits forever on ClickHouse 18.16.
func chInsert(t *testing.T, c clickhouse.Conn, table string, ids ...uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := c.PrepareBatch(ctx, "INSERT INTO "+table+" (id)")
	if err != nil {
		t.Fatalf("insert into %s: %v", table, err)
	}
	for _, id := range ids {
		if err := b.Append(id); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert into %s: %v", table, err)
	}
}

func TestClickHouseAnswers(t *testing.T) {
	env := testenv.Get(t)
	c := chConn(t, env.ClickHouseAddr(), "default")
	var one uint8
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1", one, err)
	}
}

func TestClickHouseDatabasesAreFreshAndIsolated(t *testing.T) {
	env := testenv.Get(t)
	a, b := env.ClickHouseDB(t), env.ClickHouseDB(t)
	if a == b {
		t.Fatalf("ClickHouseDB returned %q twice", a)
	}
	c := chConn(t, env.ClickHouseAddr(), a)
	ctx := context.Background()
	if err := c.Exec(ctx, "CREATE TABLE only_in_a (id UInt64) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	chInsert(t, c, "only_in_a", 7)
	q := "SELECT count() FROM system.tables WHERE database = ? AND name = 'only_in_a'"
	if got := chCount(t, c, q, a); got != 1 {
		t.Fatalf("database %s: %d tables only_in_a, want 1", a, got)
	}
	if got := chCount(t, c, q, b); got != 0 {
		t.Fatalf("database %s sees %d tables only_in_a, want 0", b, got)
	}
	all := "SELECT count() FROM system.tables WHERE database = ?"
	if na, nb := chCount(t, c, all, a), chCount(t, c, all, b); na != nb+1 {
		t.Fatalf("tables: %s has %d, %s has %d; want a = b+1", a, na, b, nb)
	}
}

// roundTrip produces one message to a new topic and reads it back.
func roundTrip(t *testing.T, brokers []string, topic, value string) {
	t.Helper()
	produce(t, brokers, topic, value)
	if got := consumeFirst(t, brokers, topic); got != value {
		t.Fatalf("consumed %q from %s, want %q", got, topic, value)
	}
}

func produce(t *testing.T, brokers []string, topic, value string) {
	t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic,
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		AllowAutoTopicCreation: true, MaxAttempts: 20,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for range 50 { // the first write may race the topic's creation
		if err = w.WriteMessages(ctx, kafka.Message{Value: []byte(value)}); err == nil {
			return
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("produce to %s: %v", topic, err)
}

// consumeFirst reads the first message of partition 0 of topic.
func consumeFirst(t *testing.T, brokers []string, topic string) string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("consume from %s: %v", topic, err)
	}
	return string(m.Value)
}

func TestKafkaProduceConsume(t *testing.T) {
	env := testenv.Get(t)
	prefix := env.TopicPrefix(t)
	if other := env.TopicPrefix(t); other == prefix {
		t.Fatalf("TopicPrefix returned %q twice", prefix)
	}
	// One partition keeps the message where consumeFirst looks.
	roundTrip(t, env.KafkaBrokers(), prefix+"probe", "hello "+prefix)
}

func TestStartKafkaApacheKeepsLogAcrossRestart(t *testing.T) {
	testStartKafkaRestart(t, testenv.Apache)
}

func TestStartKafkaKfakeRestart(t *testing.T) {
	testStartKafkaRestart(t, testenv.Kfake)
}

func testStartKafkaRestart(t *testing.T, kind string) {
	k := testenv.StartKafka(t, kind)
	brokers := k.Brokers()
	topic := "restart." + kind
	roundTrip(t, brokers, topic, "before")
	k.Stop()
	if c, err := (&kafka.Dialer{Timeout: time.Second}).Dial("tcp", brokers[0]); err == nil {
		c.Close()
		t.Fatalf("%s broker still accepts connections after Stop", kind)
	}
	k.Start()
	if got := k.Brokers(); got[0] != brokers[0] {
		t.Fatalf("address changed across restart: %v, then %v", brokers, got)
	}
	produce(t, brokers, topic, "after")
	if got := consumeFirst(t, brokers, topic); got != "before" {
		t.Fatalf("%s: first message after restart = %q, want %q (log kept)", kind, got, "before")
	}
}

func TestStartClickHouseKeepsDataAcrossRestart(t *testing.T) {
	ch := testenv.StartClickHouse(t)
	db := ch.DB(t)
	c := chConn(t, ch.Addr(), db)
	ctx := context.Background()
	if err := c.Exec(ctx, "CREATE TABLE kept (id UInt64) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	chInsert(t, c, "kept", 1, 2, 3)
	ch.Stop()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("ClickHouse still answers after Stop")
	}
	ch.Start()
	c2 := chConn(t, ch.Addr(), db)
	if got := chCount(t, c2, "SELECT count() FROM kept"); got != 3 {
		t.Fatalf("after restart: %d rows, want 3", got)
	}
}

// fatalTB records the first Fatal instead of ending the test, to check what
// testenv says when something is missing.
type fatalTB struct {
	testing.TB
	msg string
}

type fatalled struct{}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatalled{})
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func catchFatal(tb *fatalTB, fn func()) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalled); !ok {
				panic(r)
			}
			failed = true
		}
	}()
	fn()
	return false
}

func TestMissingKafkaJarsFailWithInstallCommand(t *testing.T) {
	t.Setenv("AFF_KAFKA_LIB", t.TempDir())
	tb := &fatalTB{TB: t}
	if !catchFatal(tb, func() { testenv.StartKafka(tb, testenv.Apache) }) {
		t.Fatal("StartKafka with no jars did not fail")
	}
	if !strings.Contains(tb.msg, "bash deploy/install-deps.sh") {
		t.Fatalf("failure %q does not name the install command", tb.msg)
	}
}

func TestMissingJavaFailsWithInstallCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tb := &fatalTB{TB: t}
	if !catchFatal(tb, func() { testenv.StartKafka(tb, testenv.Apache) }) {
		t.Fatal("StartKafka with no java did not fail")
	}
	if !strings.Contains(tb.msg, "java") || !strings.Contains(tb.msg, "install") {
		t.Fatalf("failure %q does not name java and the install command", tb.msg)
	}
}
