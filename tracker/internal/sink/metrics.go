package sink

import (
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// sinkMetrics are the sink's series, in its own metrics.Set so that several
// sinks in one process (tests) do not share counters.
type sinkMetrics struct {
	set       *metrics.Set
	rows      map[string]*metrics.Counter
	insertDur map[string]*metrics.Histogram
	insertErr map[string]*metrics.Counter
	batchSize *metrics.Histogram
	batchAge  *metrics.Histogram
	flushDur  *metrics.Histogram
	batches   *metrics.Counter
	read      *metrics.Counter
	// lateClicks counts clicks that arrived after the clicks watermark had
	// passed their time (noteLate).
	lateClicks *metrics.Counter
}

func newSinkMetrics(set *metrics.Set, tables []table) *sinkMetrics {
	m := &sinkMetrics{
		set:        set,
		rows:       map[string]*metrics.Counter{},
		insertDur:  map[string]*metrics.Histogram{},
		insertErr:  map[string]*metrics.Counter{},
		batchSize:  set.GetOrCreateHistogram(`aff_sink_batch_messages`),
		batchAge:   set.GetOrCreateHistogram(`aff_sink_batch_age_seconds`),
		flushDur:   set.GetOrCreateHistogram(`aff_sink_flush_duration_seconds`),
		batches:    set.GetOrCreateCounter(`aff_sink_batches_total`),
		read:       set.GetOrCreateCounter(`aff_sink_read_messages_total`),
		lateClicks: set.GetOrCreateCounter(`aff_sink_late_clicks_total`),
	}
	for _, t := range tables {
		n := t.name()
		m.rows[n] = set.GetOrCreateCounter(`aff_sink_rows_total{table="` + n + `"}`)
		m.insertDur[n] = set.GetOrCreateHistogram(`aff_sink_insert_duration_seconds{table="` + n + `"}`)
		m.insertErr[n] = set.GetOrCreateCounter(`aff_sink_insert_errors_total{table="` + n + `"}`)
	}
	return m
}

// insertDone records one insert attempt of n rows into table.
func (m *sinkMetrics) insertDone(table string, n int, d time.Duration, err error) {
	if err != nil {
		m.insertErr[table].Inc()
		return
	}
	m.rows[table].Add(n)
	m.insertDur[table].Update(d.Seconds())
}

// batchDone records a committed batch.
func (m *sinkMetrics) batchDone(messages int, age, flush time.Duration) {
	m.batches.Inc()
	m.batchSize.Update(float64(messages))
	m.batchAge.Update(age.Seconds())
	m.flushDur.Update(flush.Seconds())
}

func (m *sinkMetrics) dlq(topic string) {
	m.set.GetOrCreateCounter(`aff_sink_dlq_total{topic="` + topic + `"}`).Inc()
}

// rejected counts a message of topic the sink could not decode (sent to
// the dlq by the sink, or for orders and identities by the settler).
func (m *sinkMetrics) rejected(topic string) {
	m.set.GetOrCreateCounter(`aff_sink_rejected_total{topic="` + topic + `"}`).Inc()
}

// markers counts n Kafka transaction markers read from topic (skipped).
func (m *sinkMetrics) markers(topic string, n int) {
	m.set.GetOrCreateCounter(`aff_sink_txn_markers_total{topic="` + topic + `"}`).Add(n)
}

// lag sets the messages not yet committed and the watermark's age of topic.
func (m *sinkMetrics) lag(topic string, messages int64, watermarkAge time.Duration) {
	m.set.GetOrCreateGauge(`aff_sink_lag_messages{topic="`+topic+`"}`, nil).Set(float64(messages))
	m.set.GetOrCreateGauge(`aff_sink_watermark_age_seconds{topic="`+topic+`"}`, nil).Set(watermarkAge.Seconds())
}

// spoolHold sets how far back the oldest tracker_spools report holds the
// clicks, identities and orders watermarks (0: no tracker row).
func (m *sinkMetrics) spoolHold(held time.Duration) {
	m.set.GetOrCreateGauge(`aff_sink_spool_hold_seconds`, nil).Set(held.Seconds())
}

// spoolStale sets how many tracker_spools rows are ignored as stale: nothing
// spooled and no report for longer than -spool-report-stale.
func (m *sinkMetrics) spoolStale(rows int) {
	m.set.GetOrCreateGauge(`aff_sink_spool_stale_rows`, nil).Set(float64(rows))
}
