package producer

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/openaff/affiliate/tracker/internal/spool"
)

// Metrics are the producer's counters, registered in a metrics.Set.
type Metrics struct {
	ClicksProduced *metrics.Counter
	ClicksSpooled  *metrics.Counter
	ClicksLost     *metrics.Counter
	EventsProduced *metrics.Counter
	EventsSpooled  *metrics.Counter
	Replayed       *metrics.Counter
	QueueFull      *metrics.Counter
	KafkaErrors    *metrics.Counter
	SpoolCorrupt   *metrics.Counter
	// Quarantined counts spooled records Kafka refused for good, moved to
	// the spool's quarantine file.
	Quarantined *metrics.Counter
	// ClickBatches counts the sender's batches (to Kafka or the spool):
	// clicks produced and spooled by the sender over it is the mean batch,
	// which -batch-wait and -batch-size trade against latency.
	ClickBatches *metrics.Counter
	// RawFallbacks counts clicks a raw write (Options.RawClicks) did not
	// deliver and handed to the Writer.
	RawFallbacks *metrics.Counter

	queueDepth func() int
	spool      *spool.Spool
}

// NewMetrics registers the producer metrics in set.
func NewMetrics(set *metrics.Set) *Metrics {
	m := &Metrics{
		ClicksProduced: set.NewCounter(`tracker_clicks_produced_total`),
		ClicksSpooled:  set.NewCounter(`tracker_clicks_spooled_total`),
		ClicksLost:     set.NewCounter(`tracker_clicks_lost_total`),
		EventsProduced: set.NewCounter(`tracker_events_produced_total`),
		EventsSpooled:  set.NewCounter(`tracker_events_spooled_total`),
		Replayed:       set.NewCounter(`tracker_spool_replayed_total`),
		QueueFull:      set.NewCounter(`tracker_queue_full_total`),
		KafkaErrors:    set.NewCounter(`tracker_kafka_errors_total`),
		SpoolCorrupt:   set.NewCounter(`tracker_spool_corrupt_segments_total`),
		Quarantined:    set.NewCounter(`tracker_spool_quarantined_total`),
		ClickBatches:   set.NewCounter(`tracker_click_batches_total`),
		RawFallbacks:   set.NewCounter(`tracker_raw_produce_fallbacks_total`),
	}
	set.NewGauge(`tracker_queue_depth`, func() float64 {
		if m.queueDepth == nil {
			return 0
		}
		return float64(m.queueDepth())
	})
	set.NewGauge(`tracker_spool_bytes`, func() float64 {
		if m.spool == nil {
			return 0
		}
		return float64(m.spool.Bytes())
	})
	set.NewGauge(`tracker_spool_oldest_age_seconds`, func() float64 {
		if m.spool == nil {
			return 0
		}
		return m.spool.OldestAge().Seconds()
	})
	return m
}
