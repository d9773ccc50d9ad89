package sink_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestSinkSurvivesKafkaOutage: the broker (the real Apache broker unless
// AFF_TEST_KAFKA=kfake) is stopped for 15 s in the middle of the sink's
// consumption of a backlog and started again; the sink resumes from its
// committed offsets. Nothing is lost: every event is in the reports and the
// base tables. Nothing is doubled: every report in deploy/clickhouse/reports
// gives the same rows as a sink that consumed the same topics without an
// outage, and the base tables hold each event id once after FINAL.
func TestSinkSurvivesKafkaOutage(t *testing.T) {
	env := testenv.Get(t)
	kind := testenv.Apache
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		kind = testenv.Kfake
	}
	k := testenv.StartKafka(t, kind)
	brokers, prefix := k.Brokers(), env.TopicPrefix(t)
	conn, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 2)

	// A backlog of 30,600 events when the sink starts, 10,600 more after the
	// outage.
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	f := newFixture(40_000, 400, start)
	first, second := f, f
	first.clicks, second.clicks = f.clicks[:30_000], f.clicks[30_000:]
	first.orders, second.orders = f.orders[:200], f.orders[200:]
	first.identities, second.identities = f.identities[:200], f.identities[200:]
	first.commissions, second.commissions = f.commissions[:200], f.commissions[200:]
	// After the outage, 50 commissions of the backlog are voided or clawed
	// back (for the refunds report).
	eur := money.MustParseCurrency("EUR")
	for i := range 50 {
		st := events.StateVoided
		if i%2 == 1 {
			st = events.StateClawedBack
		}
		c := events.Commission{
			EventID: fmt.Sprintf("00000000-0000-4000-9000-%012d", i), At: start.Add(time.Duration(i)*time.Second + time.Minute),
			CommissionID: fmt.Sprintf("cm%d", i), OrderID: fmt.Sprintf("o%d", i), LineID: "1", PartnerID: fmt.Sprintf("p%d", i%7),
			Currency: eur, BaseMinor: 1900, State: st,
		}
		second.commissions = append(second.commissions, kafka.Message{Key: []byte(c.PartnerID), Value: events.AppendCommission(nil, &c)})
	}
	produceInChunks(t, brokers, prefix, first)
	backlog := uint64(30_000 + 3*200)
	total := int64(len(f.clicks) + len(f.orders) + len(f.identities) + len(f.commissions) + 50)

	cfg := sink.Config{
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: env.PostgresURL(t),
		// Small batches: the backlog takes many flushes and commits, so
		// the outage falls between them.
		BatchRows: 250, BatchWait: 200 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 2 * time.Second,
		WatermarkInterval: 500 * time.Millisecond, Metrics: metrics.NewSet(),
	}
	stop := startSink(t, cfg)
	read := cfg.Metrics.GetOrCreateCounter(`aff_sink_read_messages_total`)
	deadline := time.Now().Add(60 * time.Second)
	for read.Get() < backlog/6 {
		if time.Now().After(deadline) {
			t.Fatalf("the sink read %d of %d messages in 60 s", read.Get(), backlog)
		}
		time.Sleep(2 * time.Millisecond)
	}
	atStop := read.Get()
	k.Stop()
	if atStop >= backlog {
		t.Fatalf("the sink had read all %d messages when the broker stopped: the outage was not mid-consumption", backlog)
	}
	t.Logf("broker stopped after the sink had read %d of %d messages (%d after the stop, from its fetch buffers)", atStop, backlog, read.Get())
	time.Sleep(15 * time.Second)
	k.Start()
	produceInChunks(t, brokers, prefix, second)

	want := fmt.Sprintf("clicks=%d bot=%d orders=%d commissions=%d identities=%d", f.humanClicks, f.botClicks, f.placedOrders, 400, 400)
	waitFor(t, 120*time.Second, "every event after the broker outage", func() (bool, string) {
		got := reportCounts(t, conn)
		return got == want, got
	})
	if err := stop(); err != nil {
		t.Fatalf("sink stop: %v", err)
	}
	t.Logf("%d events, %d messages read and %d rows inserted by the sink (read again after the outage: the difference)",
		total, read.Get(), insertedRows(cfg.Metrics))

	// Base tables: each event id once after FINAL.
	for _, c := range []struct {
		q    string
		want int64
	}{
		{"SELECT toInt64(count()) FROM clicks FINAL", int64(len(f.clicks))},
		{"SELECT toInt64(count()) FROM order_events FINAL", int64(len(f.orders))},
		{"SELECT toInt64(count()) FROM order_lines FINAL", int64(len(f.orders))},
		{"SELECT toInt64(count()) FROM identities FINAL", int64(len(f.identities))},
		{"SELECT toInt64(count()) FROM commission_facts FINAL", int64(len(f.commissions) + 50)},
	} {
		if got := queryInt(t, conn, c.q); got != c.want {
			t.Fatalf("%s = %d, want %d", c.q, got, c.want)
		}
	}

	// The reference: a second sink, another group and database, reads the
	// same topics with the broker up all along.
	refConn, refDB := clickhouseDB(t, env.ClickHouseAddr())
	ref := cfg
	ref.GroupID, ref.ClickHouseDB, ref.PostgresURL, ref.Metrics = prefix+"reference", refDB, env.PostgresURL(t), metrics.NewSet()
	ref.BatchRows = 5000
	stopRef := startSink(t, ref)
	waitFor(t, 120*time.Second, "every event in the reference", func() (bool, string) {
		got := reportCounts(t, refConn)
		return got == want, got
	})
	if err := stopRef(); err != nil {
		t.Fatalf("reference sink stop: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(reportsDir, "*.sql"))
	if err != nil || len(files) < 8 {
		t.Fatalf("want at least 8 reports in %s, found %d (%v)", reportsDir, len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sql")
		got, exp := runReport(t, conn, name), runReport(t, refConn, name)
		if len(exp) == 0 {
			t.Errorf("report %s: no rows without the outage either; it proves nothing", name)
		}
		if strings.Join(got, "\n") != strings.Join(exp, "\n") {
			t.Errorf("report %s after the outage:\n%s\nwithout the outage:\n%s", name, strings.Join(got, "\n"), strings.Join(exp, "\n"))
		}
	}
}

// produceInChunks produces f's clicks 2,000 at a time: a batch of 10,000
// is over the Apache broker's default message.max.bytes (1 MB).
func produceInChunks(t *testing.T, brokers []string, prefix string, f fixture) {
	t.Helper()
	clicks := f.clicks
	for len(clicks) > 0 {
		n := min(len(clicks), 2000)
		produce(t, brokers, prefix+"clicks", clicks[:n])
		clicks = clicks[n:]
	}
	f.clicks = nil
	f.produceAll(t, brokers, prefix)
}
