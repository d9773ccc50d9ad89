// Package sink is `tracker sink`: a Kafka consumer group over the clicks,
// identities, orders and commissions topics that batches events into
// ClickHouse and records in Postgres how far each topic is in.
//
// Delivery: at least once into ClickHouse, exactly once in every report.
// Offsets are committed only after ClickHouse accepted the whole batch (and
// malformed messages reached the DLQ), so a crash loses nothing but may
// insert a batch again on restart; every table is keyed by its event id
// (ReplacingMergeTree) and the report rollups keep idempotent states (see
// pkg/migrate/clickhouse/00203), so a replay changes no report. A failed
// insert is retried with bounded exponential backoff for as long as it takes
// (nothing is committed meanwhile, so Kafka is the buffer); a crash loses at
// most the in-memory batch, which Kafka still holds.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/VictoriaMetrics/metrics"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/kafkatopic"
)

// Topics are the short names of the consumed topics.
var Topics = []string{"clicks", "identities", "orders", "commissions"}

// Config is everything Run needs; Main fills it from AFF_* and flags.
type Config struct {
	Brokers     []string
	TopicPrefix string
	// GroupID is the Kafka consumer group (default TopicPrefix+"sink").
	GroupID        string
	ClickHouseAddr string
	ClickHouseDB   string
	PostgresURL    string
	// BatchRows flushes a batch once it holds this many messages.
	BatchRows int
	// BatchWait flushes a batch this long after its first message.
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff between insert attempts.
	RetryMin, RetryMax time.Duration
	// WatermarkInterval is how often the watermarks and lag are refreshed.
	WatermarkInterval time.Duration
	// WatermarkDelay is held back from the watermark of a caught-up
	// partition: an event reaches Kafka some time after it happened (the
	// tracker's batch wait and write retries, a few seconds at most while
	// Kafka is healthy), so "everything Kafka held at T is in ClickHouse"
	// only vouches for events up to T minus this delay. Zero holds nothing
	// back (tests that produce directly).
	WatermarkDelay time.Duration
	// SpoolReportStale bounds how long a tracker_spools row with nothing
	// spooled (oldest_at NULL) holds the clicks, identities and orders
	// watermarks at its last report: past it the row is ignored and named in
	// the log (default DefaultSpoolReportStale). Rows with spooled records
	// always hold.
	SpoolReportStale time.Duration
	// ShutdownTimeout bounds the final flush on shutdown.
	ShutdownTimeout time.Duration
	// FetchMaxBytes bounds one fetch from a partition.
	FetchMaxBytes int
	// InsertParallelism is how many INSERTs of one table run at once.
	InsertParallelism int
	// MinPartRows is the fewest rows worth a parallel INSERT of their own.
	MinPartRows int
	// InsertMaxMonths is the most distinct months (partitions: every table
	// is PARTITION BY toYYYYMM(at)) one INSERT may touch; keep it at or
	// below ClickHouse's max_partitions_per_insert_block (default
	// DefaultInsertMaxMonths), which refuses a larger INSERT for good.
	InsertMaxMonths int
	// InsertTimeout bounds one INSERT attempt. clickhouse-go stops waiting
	// on a cancelled context only at a deadline, so without it an INSERT to
	// a server that hangs (not refuses) would block until ReadTimeout.
	InsertTimeout time.Duration
	// Metrics receives the sink's metrics (nil: a new set).
	Metrics *metrics.Set
	Logger  *slog.Logger
}

func (c *Config) defaults() {
	if c.GroupID == "" {
		c.GroupID = c.TopicPrefix + "sink"
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 200_000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(30*time.Second, c.RetryMin)
	}
	if c.WatermarkInterval <= 0 {
		c.WatermarkInterval = 5 * time.Second
	}
	if c.SpoolReportStale <= 0 {
		c.SpoolReportStale = DefaultSpoolReportStale
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.InsertParallelism <= 0 {
		c.InsertParallelism = 2
	}
	if c.InsertTimeout <= 0 {
		c.InsertTimeout = 30 * time.Second
	}
	if c.MinPartRows <= 0 {
		c.MinPartRows = 10_000
	}
	if c.InsertMaxMonths <= 0 {
		c.InsertMaxMonths = DefaultInsertMaxMonths
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 1 << 20
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewSet()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// partKey names a partition.
type partKey struct {
	topic     string
	partition int
}

// batch is what has been read since the last flush: decoded rows in its
// own table buffers, and what to commit once they are in ClickHouse.
type batch struct {
	handlers map[string]topicHandler // by full topic name
	tables   []table                 // every table, in flush order
	messages int
	last     map[partKey]position  // how far each partition was read, to commit
	maxAt    map[partKey]time.Time // latest event time per partition
	dlq      []events.DLQRecord
	markers  int // Kafka transaction markers skipped (kafkatopic.IsTxnMarker)
	started  time.Time
}

func newBatch(prefix string) *batch {
	clicks, identities, orders, commissions := &clickTable{}, &identityTable{}, &orderHandler{}, &commissionTable{}
	b := &batch{
		handlers: map[string]topicHandler{
			prefix + "clicks":      clicks,
			prefix + "identities":  identities,
			prefix + "orders":      orders,
			prefix + "commissions": commissions,
		},
		tables: []table{clicks, identities, &orders.events, &orders.lines, commissions},
		last:   map[partKey]position{},
		maxAt:  map[partKey]time.Time{},
	}
	return b
}

func (b *batch) reset() {
	for _, t := range b.tables {
		reset(t)
	}
	b.messages, b.dlq, b.markers, b.started = 0, b.dlq[:0], 0, time.Time{}
	clear(b.last)
	clear(b.maxAt)
}

// add decodes m into its tables, or queues it for the DLQ.
func (b *batch) add(m kafka.Message) {
	k := partKey{m.Topic, m.Partition}
	if at := b.decode(b.handler(m.Topic), m); at.After(b.maxAt[k]) {
		b.maxAt[k] = at
	}
}

// handler is the handler of topic.
func (b *batch) handler(topic string) topicHandler {
	h := b.handlers[topic]
	if h == nil {
		panic("BUG: message from unsubscribed topic " + topic)
	}
	return h
}

// decode decodes m, a message of h's topic, into its tables and returns its
// event time, or queues it for the DLQ and returns the zero time.
func (b *batch) decode(h topicHandler, m kafka.Message) time.Time {
	b.messages++
	if kafkatopic.IsTxnMarker(m.Key, m.Value) {
		b.markers++
		return time.Time{}
	}
	at, err := h.add(m.Value)
	if err != nil {
		b.dlq = append(b.dlq, dlqRecord(m, err))
		return time.Time{}
	}
	return at
}

// Sink is one running sink. Create it with New, run it with Run.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	ch     driver.Conn
	pg     *pgxpool.Pool
	group  *kafka.ConsumerGroup
	dialer *kafka.Dialer
	dlq    *kafka.Writer
	m      *sinkMetrics

	closing   chan struct{} // closed by Close: the group's generation may end
	closeOnce sync.Once
	chunkPool sync.Pool // of *batch, for chunks

	mu    sync.Mutex
	parts map[partKey]*partState // committed progress, read by the watermark loop
	// checkpoints, per partition, what the watermark loop saw (its own
	// goroutine only): see refreshTopic.
	checkpoints map[partKey][]checkpoint
	holdLogged  time.Time // when noteHold last logged (watermark loop only)
	// markersLogged is when noteMarkers last warned (the consume loop only).
	markersLogged time.Time
	// staleLogged is when noteStale last logged each stale tracker_spools
	// row (watermark loop only; rows no longer stale are dropped).
	staleLogged map[string]time.Time

	// clicksWatermark is the clicks watermark last written (Unix
	// nanoseconds; 0 before the first), for noteLate.
	clicksWatermark atomic.Int64
	lateMu          sync.Mutex
	late            lateClicks // counted since lateLogged
	lateLogged      time.Time
}

// Run consumes until ctx is cancelled, then flushes the open batch (within
// cfg.ShutdownTimeout) and returns. It returns an error only when it cannot
// start or cannot flush on shutdown.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Run(ctx)
}

// New connects to ClickHouse and Postgres and joins the consumer group.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg.defaults()
	s := &Sink{cfg: cfg, log: cfg.Logger, parts: map[partKey]*partState{}, checkpoints: map[partKey][]checkpoint{},
		staleLogged: map[string]time.Time{}, closing: make(chan struct{})}
	var err error
	if s.ch, err = openClickHouse(ctx, cfg.ClickHouseAddr, cfg.ClickHouseDB); err != nil {
		return nil, err
	}
	if s.pg, err = pgxpool.New(ctx, cfg.PostgresURL); err != nil {
		s.ch.Close()
		return nil, fmt.Errorf("cannot open postgres: %w", err)
	}
	topics := make([]string, len(Topics))
	for i, t := range Topics {
		topics[i] = cfg.TopicPrefix + t
	}
	// A group over a topic that does not exist yet gets none of its
	// partitions until the next rebalance: create the topics first. Kafka
	// down at start is not fatal; the reader retries on its own.
	ensureCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if err := kafkatopic.Ensure(ensureCtx, cfg.Brokers, append(topics[:len(topics):len(topics)], cfg.TopicPrefix+"dlq")); err != nil {
		s.log.Warn("cannot make sure the topics exist; joining the group anyway", "error", err)
	}
	cancel()
	s.dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	s.group, err = kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:      cfg.GroupID,
		Brokers: cfg.Brokers,
		Dialer:  s.dialer,
		Topics:  topics,
		// Explicit, not kafka-go's defaults (DESIGN §6). Offsets are
		// committed by hand after the insert (commit).
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           10 * time.Second,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { s.log.Debug("kafka consumer group: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		s.pg.Close()
		s.ch.Close()
		return nil, fmt.Errorf("cannot create the kafka consumer group: %w", err)
	}
	s.dlq = &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  cfg.TopicPrefix + "dlq",
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		MaxAttempts:            3,
		AllowAutoTopicCreation: true,
	}
	s.m = newSinkMetrics(cfg.Metrics, newBatch(cfg.TopicPrefix).tables)
	return s, nil
}

// Close releases the connections.
func (s *Sink) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.group.Close()
	s.dlq.Close()
	s.pg.Close()
	s.ch.Close()
}

// Run is the consume loop; see the package Run. Two batches alternate: one
// fills while the other is inserted, so decoding and ClickHouse's work
// overlap. At most one flush is in flight, and flushes commit in order.
// Messages arrive decoded, a fetch at a time, from the partitions'
// goroutines (consume.go).
func (s *Sink) Run(ctx context.Context) error {
	wmCtx, stopWatermarks := context.WithCancel(ctx)
	defer stopWatermarks()
	chunks := make(chan *chunk)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.watermarkLoop(wmCtx) }()
	go func() { defer wg.Done(); s.groupLoop(ctx, chunks) }()
	defer wg.Wait()

	cur, spare := newBatch(s.cfg.TopicPrefix), newBatch(s.cfg.TopicPrefix)
	var inflight *batch // the batch being flushed, or whose flush failed
	flushing := false   // a flush goroutine owes a result on done
	done := make(chan error, 1)
	// wait ends the flush in flight; on success its batch becomes spare,
	// on failure it stays inflight for the shutdown flush.
	wait := func() error {
		if !flushing {
			return nil
		}
		flushing = false
		if err := <-done; err != nil {
			return err
		}
		inflight.reset()
		spare, inflight = inflight, nil
		return nil
	}
	// deadline fires when the batch's time is up; nil while it is empty.
	var deadline <-chan time.Time
	var timer *time.Timer
	// handoff ends the batch (it holds a message: its deadline or its size
	// ended it) and starts its flush.
	handoff := func() error {
		if timer != nil {
			timer.Stop()
		}
		deadline = nil
		if err := wait(); err != nil {
			return err
		}
		inflight, cur, spare = cur, spare, nil
		flushing = true
		go func(b *batch) { done <- s.flush(ctx, b) }(inflight)
		return nil
	}
	var err error
	for err == nil {
		var c *chunk
		select {
		case <-ctx.Done():
			err = ctx.Err()
			continue
		case <-deadline:
			err = handoff()
			continue
		case c = <-chunks:
		}
		if cur.messages == 0 {
			cur.started = time.Now()
			timer = time.NewTimer(s.cfg.BatchWait)
			deadline = timer.C
		}
		n := c.b.messages
		s.takeChunk(cur, c)
		s.m.read.Add(n)
		if cur.messages >= s.cfg.BatchRows {
			err = handoff()
		}
	}
	if timer != nil {
		timer.Stop()
	}
	stopWatermarks()
	_ = wait() // a failure leaves inflight set: shutdown flushes it first
	return s.shutdown(inflight, cur)
}

// shutdown flushes, in order, the batches still holding rows within
// ShutdownTimeout.
func (s *Sink) shutdown(batches ...*batch) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, b := range batches {
		if b == nil || b.messages == 0 {
			continue
		}
		if err := s.flush(ctx, b); err != nil {
			return fmt.Errorf("cannot flush a batch of %d messages on shutdown (Kafka keeps them; they are read again on restart): %w", b.messages, err)
		}
	}
	s.log.Info("sink stopped")
	return nil
}

// flush inserts every table of b, writes its DLQ records, then commits its
// offsets. Each step is retried until it succeeds or ctx ends; a table
// already inserted is emptied, so a later flush of b (on shutdown) does not
// insert it again.
func (s *Sink) flush(ctx context.Context, b *batch) error {
	start := time.Now()
	for _, t := range b.tables {
		if t.rows() == 0 {
			continue
		}
		if err := s.insertTable(ctx, t); err != nil {
			return err
		}
		reset(t)
	}
	if len(b.dlq) > 0 {
		if err := s.retry(ctx, "write dlq", func() error { return s.writeDLQ(ctx, b.dlq) }); err != nil {
			return err
		}
		b.dlq = b.dlq[:0]
	}
	if err := s.commit(ctx, b.last); err != nil {
		return err
	}
	s.mu.Lock()
	for k, pos := range b.last {
		p := s.parts[k]
		if p == nil {
			p = &partState{}
			s.parts[k] = p
		}
		p.next = pos.next
		p.dirty = true
		if at := b.maxAt[k]; at.After(p.maxAt) {
			p.maxAt = at
		}
	}
	s.mu.Unlock()
	s.m.batchDone(b.messages, time.Since(b.started), time.Since(start))
	b.messages = 0
	return nil
}

// insertTable inserts every row of t in the INSERTs of insertRanges, up to
// InsertParallelism at once (ClickHouse runs one INSERT, materialized views
// included, on one thread; parts let it use more cores). Each is retried on
// its own until it succeeds or ctx ends.
func (s *Sink) insertTable(ctx context.Context, t table) error {
	ranges := s.insertRanges(t)
	errs := make([]error, len(ranges))
	slots := make(chan struct{}, s.cfg.InsertParallelism)
	var wg sync.WaitGroup
	for i, r := range ranges {
		lo, hi := r[0], r[1]
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			errs[i] = s.retry(ctx, "insert into "+t.name(), func() error {
				t0 := time.Now()
				ictx, cancel := context.WithTimeout(ctx, s.cfg.InsertTimeout)
				err := insertRows(ictx, s.ch, t, lo, hi)
				cancel()
				s.m.insertDone(t.name(), hi-lo, time.Since(t0), err)
				return err
			})
		}()
	}
	wg.Wait()
	// A part that succeeded is not undone by a failed one; on shutdown the
	// whole table is inserted again, which the tables absorb (replay-safe).
	return errors.Join(errs...)
}

// insertRanges returns the row ranges [lo, hi) of t's INSERTs: chunks of at
// most InsertMaxMonths months (monthChunks; t's rows are reordered for
// them when there are more months than that), each split into up to
// InsertParallelism ranges of at least MinPartRows rows.
func (s *Sink) insertRanges(t table) [][2]int {
	ends := []int{t.rows()}
	if order, chunkEnds := monthChunks(t.times(), s.cfg.InsertMaxMonths); order != nil {
		permute(t, order)
		ends = chunkEnds
		s.log.Info("batch split by month: its rows span more partitions than one INSERT may",
			"table", t.name(), "rows", t.rows(), "inserts", len(ends), "insert_max_months", s.cfg.InsertMaxMonths)
	}
	var out [][2]int
	lo := 0
	for _, hi := range ends {
		n := hi - lo
		parts := max(min(s.cfg.InsertParallelism, n/s.cfg.MinPartRows), 1)
		for i := range parts {
			out = append(out, [2]int{lo + n*i/parts, lo + n*(i+1)/parts})
		}
		lo = hi
	}
	return out
}

// commit commits how far each partition was read, through the generation
// that read it, retrying transient errors. Offsets of a generation that
// ended, or refused after a rebalance (the partitions now belong to another
// member), are logged and dropped: the new owner reads those messages again
// and the tables absorb the replay.
func (s *Sink) commit(ctx context.Context, last map[partKey]position) error {
	byGen := map[*generation]map[string]map[int]int64{}
	for k, pos := range last {
		offsets := byGen[pos.gen]
		if offsets == nil {
			offsets = map[string]map[int]int64{}
			byGen[pos.gen] = offsets
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int]int64{}
		}
		offsets[k.topic][k.partition] = pos.next
	}
	for gen, offsets := range byGen {
		err := s.retry(ctx, "commit offsets", func() error {
			if gen.isOver() {
				s.log.Warn("offsets not committed: their consumer group generation has ended; the batch will be read again", "generation", gen.ID)
				return nil
			}
			err := gen.CommitOffsets(offsets)
			var kerr kafka.Error
			if errors.As(err, &kerr) && (kerr == kafka.RebalanceInProgress || kerr == kafka.IllegalGeneration || kerr == kafka.UnknownMemberId) {
				s.log.Warn("offsets not committed after a rebalance; the batch will be read again", "error", err)
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// retry runs op until it succeeds or ctx ends, sleeping between attempts
// with exponential backoff from RetryMin to RetryMax.
func (s *Sink) retry(ctx context.Context, what string, op func() error) error {
	backoff := s.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		s.log.Warn("sink step failed; retrying", "step", what, "attempt", attempt, "error", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		}
		backoff = min(backoff*2, s.cfg.RetryMax)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func dlqRecord(m kafka.Message, err error) events.DLQRecord {
	reason := err.Error()
	if len(reason) > events.MaxReasonLen {
		// Cut at the byte limit, dropping a rune the cut splits.
		reason = strings.ToValidUTF8(reason[:events.MaxReasonLen], "")
	}
	payload, truncated := m.Value, false
	if len(payload) > events.MaxDLQPayloadBytes {
		payload, truncated = payload[:events.MaxDLQPayloadBytes], true
	}
	return events.DLQRecord{
		EventID: events.NewID(), At: time.Now().UTC(),
		Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset,
		Reason: reason, Payload: append([]byte(nil), payload...), Truncated: truncated,
	}
}

// noteMarkers counts the transaction markers of a chunk of topic in
// aff_sink_txn_markers_total and warns, at most every ten minutes, that a
// producer writes to topic in Kafka transactions: kafka-go cannot hide the
// records of an aborted transaction, which land in ClickHouse as sent.
func (s *Sink) noteMarkers(topic string, n int) {
	s.m.markers(topic, n)
	if time.Since(s.markersLogged) < 10*time.Minute {
		return
	}
	s.markersLogged = time.Now()
	s.log.Warn("a producer writes to this topic in Kafka transactions, which the sink does not support: "+
		"it skips the transaction markers but stores the events of an aborted transaction as sent; "+
		"produce without transactions (see deploy/OPERATIONS.md)", "topic", topic, "markers", n)
}

// writeDLQ sends the records of the messages the sink could not decode to
// the dlq, keyed by their topic. Those of the orders and identities topics
// only count in aff_sink_rejected_total: the settler reads those topics
// too, with the same decoders, and sends each such message to the dlq
// itself (one record per bad event, not two).
func (s *Sink) writeDLQ(ctx context.Context, records []events.DLQRecord) error {
	msgs := make([]kafka.Message, 0, len(records))
	var own []string
	for i := range records {
		d := &records[i]
		if t := strings.TrimPrefix(d.Topic, s.cfg.TopicPrefix); t == "orders" || t == "identities" {
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(d.Topic), Value: events.AppendDLQRecord(nil, d)})
		own = append(own, d.Topic)
	}
	if len(msgs) > 0 {
		if err := s.dlq.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("cannot write %d dlq records: %w", len(msgs), err)
		}
	}
	for _, t := range own {
		s.m.dlq(t)
	}
	for i := range records {
		s.m.rejected(records[i].Topic)
	}
	return nil
}
