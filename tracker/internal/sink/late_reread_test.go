package sink_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// Clicks inserted on time by one sink and read again by a sink of another
// group, without committed offsets (a new -group, expired offsets, a rebuild
// of ClickHouse from the topics), are not counted late: 1280 were.
func TestRereadClicksNotLate(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	ch, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	run := func(group string, set *metrics.Set, fetchBytes int) (stop func()) {
		_, stopSink := startSinkLogged(t, sink.Config{Metrics: set, GroupID: group, FetchMaxBytes: fetchBytes,
			Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
			BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond, WatermarkDelay: time.Second,
		})
		return func() {
			if err := stopSink(); err != nil {
				t.Errorf("sink stop: %v", err)
			}
		}
	}
	setA := metrics.NewSet()
	stopA := run(prefix+"a", setA, 0)
	began := time.Now().UTC()
	all := newFixture(2000, 0, began).clicks
	for len(all) > 0 {
		n := min(20, len(all))
		produce(t, brokers, prefix+"clicks", all[:n])
		all = all[n:]
	}
	waitFor(t, 60*time.Second, "clicks in ClickHouse and the watermark past them", func() (bool, string) {
		n := queryInt(t, ch, "SELECT toInt64(count()) FROM clicks")
		wm := readWatermark(t, pgURL, "clicks")
		return n >= 2000 && wm.After(began.Add(22*time.Second)), fmt.Sprint(n, " ", wm)
	})
	stopA()
	if n := setA.GetOrCreateCounter(`aff_sink_late_clicks_total`).Get(); n != 0 {
		t.Fatalf("first sink counted %d late clicks", n)
	}
	setB := metrics.NewSet()
	stopB := run(prefix+"b", setB, 2048)
	time.Sleep(8 * time.Second)
	stopB()
	if n := setB.GetOrCreateCounter(`aff_sink_late_clicks_total`).Get(); n != 0 {
		t.Errorf("aff_sink_late_clicks_total = %d after re-reading clicks inserted on time (want 0: README says clicks read again are not counted)", n)
	}
}
