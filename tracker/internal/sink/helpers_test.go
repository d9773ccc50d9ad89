package sink_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
	"github.com/segmentio/kafka-go"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var dbSeq atomic.Int64

// clickhouseDB creates a fresh database with every migration on the server
// at addr (testenv's shared server or a dedicated one), dropped when t ends,
// and returns a connection to it.
func clickhouseDB(t testing.TB, addr string) (driver.Conn, string) {
	t.Helper()
	ctx := context.Background()
	db := fmt.Sprintf("sink_%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := migrate.ClickHouse(ctx, addr, db); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	conn, err := migrate.Open(ctx, addr, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return conn, db
}

// createTopics creates the sink's topics and the DLQ with partitions each.
func createTopics(t testing.TB, brokers []string, prefix string, partitions int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	var topics []kafka.TopicConfig
	for _, name := range append(append([]string{}, sink.Topics...), "dlq") {
		topics = append(topics, kafka.TopicConfig{Topic: prefix + name, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("CreateTopics %s: %v", name, err)
		}
	}
}

func produce(t testing.TB, brokers []string, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 10_000, BatchBytes: 64 << 20,
		MaxAttempts: 20,
	}
	defer w.Close()
	for len(msgs) > 0 {
		n := min(len(msgs), 10_000)
		if err := w.WriteMessages(context.Background(), msgs[:n]...); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		msgs = msgs[n:]
	}
}

// startSink runs a sink until the test ends (or stop is called) and
// returns stop, which cancels it and returns Run's error.
func startSink(t testing.TB, cfg sink.Config) (stop func() error) {
	t.Helper()
	_, stop = startSinkLogged(t, cfg)
	return stop
}

// startSinkLogged is startSink that also returns the sink's warnings.
func startSinkLogged(t testing.TB, cfg sink.Config) (logs *lockedBuffer, stop func() error) {
	t.Helper()
	logs = &lockedBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sink.Run(ctx, cfg) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(90 * time.Second):
				var buf strings.Builder
				pprof.Lookup("goroutine").WriteTo(&buf, 2)
				t.Errorf("sink did not stop within 90s; goroutines:\n%s", buf.String())
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return logs, stop
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// waitFor polls cond every 100 ms until it is true or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func queryInt(t testing.TB, conn driver.Conn, q string) int64 {
	t.Helper()
	var v int64
	if err := conn.QueryRow(context.Background(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// fixture is a generated set of events with their known totals.
type fixture struct {
	clicks, identities, orders, commissions []kafka.Message
	humanClicks, botClicks                  int64
	placedOrders                            int64
}

func newFixture(nClicks, nOrders int, start time.Time) fixture {
	var f fixture
	eur := money.MustParseCurrency("EUR")
	for i := range nClicks {
		c := events.Click{
			ClickID: events.NewID(), At: start.Add(time.Duration(i) * time.Millisecond * 10).UTC().Truncate(time.Second),
			DeviceToken: fmt.Sprintf("dev%05d", i%997), PartnerID: fmt.Sprintf("p%d", i%7), LinkID: fmt.Sprintf("l%d", i%31),
			Kind: events.KindLink, Target: "https://shop.example/p/1", ProductID: fmt.Sprintf("prod%d", i%5),
			UserAgent: "Mozilla/5.0", IP: netip.MustParseAddr("192.0.2.0"), Bot: i%10 == 0,
		}
		if c.Bot {
			f.botClicks++
		} else {
			f.humanClicks++
		}
		f.clicks = append(f.clicks, kafka.Message{Key: []byte(c.DeviceToken), Value: events.AppendClick(nil, &c)})
	}
	for i := range nOrders {
		o := events.Order{
			EventID: fmt.Sprintf("o-ev-%d", i), Type: events.OrderPlaced, OrderID: fmt.Sprintf("o%d", i),
			At: start.Add(time.Duration(i) * time.Second), DeviceToken: fmt.Sprintf("dev%05d", i%997), Currency: eur,
			Lines: []events.Line{{LineID: "1", ProductID: fmt.Sprintf("prod%d", i%5), Quantity: 2, UnitPriceMinor: 1000, DiscountMinor: 100}},
		}
		f.placedOrders++
		f.orders = append(f.orders, kafka.Message{Key: []byte(o.OrderID), Value: events.AppendOrder(nil, &o)})
		id := events.Identity{EventID: fmt.Sprintf("id-ev-%d", i), At: o.At, DeviceToken: o.DeviceToken, CustomerID: fmt.Sprintf("cust%d", i)}
		f.identities = append(f.identities, kafka.Message{Key: []byte(id.DeviceToken), Value: events.AppendIdentity(nil, &id)})
		c := events.Commission{
			EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), At: o.At, CommissionID: fmt.Sprintf("cm%d", i),
			OrderID: o.OrderID, LineID: "1", PartnerID: fmt.Sprintf("p%d", i%7), Currency: eur,
			AmountMinor: 190, BaseMinor: 1900, State: events.StatePending,
		}
		f.commissions = append(f.commissions, kafka.Message{Key: []byte(c.PartnerID), Value: events.AppendCommission(nil, &c)})
	}
	return f
}

func (f fixture) produceAll(t testing.TB, brokers []string, prefix string) {
	produce(t, brokers, prefix+"clicks", f.clicks)
	produce(t, brokers, prefix+"orders", f.orders)
	produce(t, brokers, prefix+"identities", f.identities)
	produce(t, brokers, prefix+"commissions", f.commissions)
}

// reconnect opens a new connection to db on addr (after a server restart).
func reconnect(t testing.TB, addr, db string) (driver.Conn, string) {
	t.Helper()
	conn, err := migrate.Open(context.Background(), addr, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, db
}
