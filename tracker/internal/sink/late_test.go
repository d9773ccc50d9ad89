package sink_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/tracker/internal/sink"
)

// TestLateClickCounted: a click that reaches the sink after the clicks
// watermark passed its time (a tracker's clock behind, or a tracker that
// spooled clicks while cut off from Postgres longer than
// -spool-report-stale) was inserted with nothing said, though orders
// decided meanwhile never saw it. It is counted in
// aff_sink_late_clicks_total and logged with its time and the watermark;
// a click newer than the watermark is not.
func TestLateClickCounted(t *testing.T) {
	env := testenv.Get(t)
	brokers, prefix := env.KafkaBrokers(), env.TopicPrefix(t)
	pgURL := env.PostgresURL(t)
	ch, db := clickhouseDB(t, env.ClickHouseAddr())
	createTopics(t, brokers, prefix, 1)
	const delay = time.Second
	set := metrics.NewSet()
	began := time.Now().UTC()
	logs, stop := startSinkLogged(t, sink.Config{Metrics: set,
		Brokers: brokers, TopicPrefix: prefix, ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: db, PostgresURL: pgURL,
		BatchRows: 100, BatchWait: 100 * time.Millisecond, WatermarkInterval: 200 * time.Millisecond, WatermarkDelay: delay,
	})
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("sink stop: %v", err)
		}
	}()
	waitFor(t, 60*time.Second, "the clicks watermark past the start minus the delay", func() (bool, string) {
		wm := readWatermark(t, pgURL, "clicks")
		return wm.After(began.Add(-delay)), wm.String()
	})
	time.Sleep(500 * time.Millisecond) // the sink has read it back

	late := newFixture(1, 0, began.Add(-time.Hour)).clicks
	fresh := newFixture(1, 0, time.Now().Add(time.Minute)).clicks
	produce(t, brokers, prefix+"clicks", append(late, fresh...))
	waitFor(t, 60*time.Second, "both clicks in ClickHouse", func() (bool, string) {
		n := queryInt(t, ch, "SELECT toInt64(count()) FROM clicks")
		return n == 2, fmt.Sprint(n)
	})
	if n := set.GetOrCreateCounter(`aff_sink_late_clicks_total`).Get(); n != 1 {
		t.Errorf("aff_sink_late_clicks_total = %d, want 1 (the click an hour old)", n)
	}
	got := logs.String()
	if !strings.Contains(got, "clicks arrived after the clicks watermark") || !strings.Contains(got, "clicks=1 ") ||
		!strings.Contains(got, "oldest_at="+began.Add(-time.Hour).Truncate(time.Second).Format("2006-01-02T15:04:05")) {
		t.Errorf("the sink's log does not report the late click with its time:\n%s", got)
	}
}
