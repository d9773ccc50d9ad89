package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/settler/internal/produce"
)

// Options configures a Consumer. Zero fields take the documented defaults.
type Options struct {
	Brokers []string
	// TopicPrefix is prepended to the short topic names ("aff.").
	TopicPrefix string
	// GroupID is the Kafka consumer group; default "settler".
	GroupID string
	// BatchSize bounds the messages applied in one Postgres transaction; default 1000.
	BatchSize int
	// BatchWait bounds how long a started batch waits to fill up; default 200ms.
	BatchWait time.Duration
	// MaxTxAttempts bounds the tries of one batch transaction on
	// serialization failures and deadlocks; default 5.
	MaxTxAttempts int
	// OnBatch, when set, is called with the counts of every batch once its
	// offsets are committed (from the consuming goroutine).
	OnBatch func(Counts)
}

func (o *Options) defaults() {
	if o.GroupID == "" {
		o.GroupID = "settler"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 200 * time.Millisecond
	}
	if o.MaxTxAttempts <= 0 {
		o.MaxTxAttempts = 5
	}
}

// Consumer reads the orders and identities topics in a consumer group and
// applies them to Postgres in batches.
type Consumer struct {
	opts   Options
	pool   *pgxpool.Pool
	dec    Decoder
	log    *slog.Logger
	reader *kafka.Reader
	dlq    *kafka.Writer
	totals Counts

	markersLogged time.Time // when noteMarkers last warned
}

// NewConsumer returns a consumer; Close it when done.
func NewConsumer(pool *pgxpool.Pool, dec Decoder, opts Options, log *slog.Logger) *Consumer {
	opts.defaults()
	w := &kafka.Writer{
		Addr:         kafka.TCP(opts.Brokers...),
		Topic:        opts.TopicPrefix + "dlq",
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  5,
		// The dlq topic may not exist yet on a fresh broker.
		AllowAutoTopicCreation: true,
	}
	c := &Consumer{opts: opts, pool: pool, dec: dec, log: log, dlq: w}
	c.reader = c.newReader()
	return c
}

// newReader returns a group reader that starts from the group's committed
// offsets.
func (c *Consumer) newReader() *kafka.Reader {
	opts := c.opts
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:     opts.Brokers,
		GroupID:     opts.GroupID,
		GroupTopics: []string{opts.TopicPrefix + TopicOrders, opts.TopicPrefix + TopicIdentities},
		StartOffset: kafka.FirstOffset,
		MinBytes:    1,
		MaxBytes:    16 << 20,
		MaxWait:     250 * time.Millisecond,
		// Offsets are committed explicitly, after the Postgres commit.
		CommitInterval:        0,
		HeartbeatInterval:     3 * time.Second,
		SessionTimeout:        30 * time.Second,
		RebalanceTimeout:      30 * time.Second,
		JoinGroupBackoff:      time.Second,
		ReadBackoffMin:        100 * time.Millisecond,
		ReadBackoffMax:        time.Second,
		WatchPartitionChanges: true,
		MaxAttempts:           5,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
}

// Close stops the consumer's Kafka clients.
func (c *Consumer) Close() error {
	return errors.Join(c.reader.Close(), c.dlq.Close())
}

// Totals returns the counts of every batch applied so far.
func (c *Consumer) Totals() Counts { return c.totals }

// Run consumes until ctx is done, then returns ctx's error, or until a
// batch fails, then returns that error; calling Run again resumes from the
// last committed offsets.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		if _, err := c.step(ctx, 0); err != nil {
			return err
		}
	}
}

// drainPoll is how long Drain waits for a message before it reads the
// group's committed offsets again.
const drainPoll = time.Second

// Drain consumes every message that was in the two topics when it was
// called (up to the high-water marks it reads first) and returns; it gives
// up with an error after maxWait. A partition counts as done when this
// consumer has read up to its mark, or when the group's committed offset
// has reached it: another member of the group (a `settler serve` replica,
// an overlapping `settler run`) may hold the partition and ingest it, so
// Drain reads the committed offsets again every drainPoll while it waits.
func (c *Consumer) Drain(ctx context.Context, maxWait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	client := c.client()
	want, err := c.pendingOffsets(ctx, client)
	// A topic created a moment ago (by this very process, in a fresh
	// deployment) may answer "not leader" for a while: retry such errors.
	for attempt := 0; err != nil && temporary(err) && attempt < 40; attempt++ {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
		want, err = c.pendingOffsets(ctx, client)
	}
	if err != nil {
		return err
	}
	checked := time.Now()
	for len(want) > 0 {
		msgs, err := c.step(ctx, drainPoll)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("ingest did not reach the high-water marks within %s (%d partitions left)", maxWait, len(want))
			}
			return err
		}
		for _, m := range msgs {
			k := partKey{m.Topic, m.Partition}
			if hwm, ok := want[k]; ok && m.Offset+1 >= hwm {
				delete(want, k)
			}
		}
		if len(want) > 0 && time.Since(checked) >= drainPoll {
			checked = time.Now()
			if err := c.dropCommitted(ctx, client, want); err != nil && ctx.Err() == nil {
				// The next look succeeds or maxWait ends the wait.
				c.log.Warn("cannot read the group's committed offsets", "error", err)
			}
		}
	}
	return nil
}

// dropCommitted removes from want the partitions whose committed offset in
// the group has reached the wanted mark.
func (c *Consumer) dropCommitted(ctx context.Context, client *kafka.Client, want map[partKey]int64) error {
	parts := map[string][]int{}
	for k := range want {
		parts[c.opts.TopicPrefix+k.topic] = append(parts[c.opts.TopicPrefix+k.topic], k.partition)
	}
	done, err := c.committed(ctx, client, parts)
	if err != nil {
		return err
	}
	for k, hwm := range want {
		if off, ok := done[k]; ok && off >= hwm {
			delete(want, k)
		}
	}
	return nil
}

// client returns a Kafka client for the offset look-ups.
func (c *Consumer) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.opts.Brokers...), Timeout: 30 * time.Second}
}

// committed returns the group's committed offsets of parts (full topic
// names); a partition without one is absent.
func (c *Consumer) committed(ctx context.Context, client *kafka.Client, parts map[string][]int) (map[partKey]int64, error) {
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.opts.GroupID, Topics: parts})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read committed offsets: %w", err)
	}
	done := map[partKey]int64{}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("cannot read committed offset of %s/%d: %w", topic, p.Partition, p.Error)
			}
			if p.CommittedOffset >= 0 {
				done[partKey{short(c.opts.TopicPrefix, topic), p.Partition}] = p.CommittedOffset
			}
		}
	}
	return done, nil
}

// temporary reports whether err is a Kafka error worth retrying (no leader
// yet, leader moved, coordinator loading).
func temporary(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

type partKey struct {
	topic     string
	partition int
}

// pendingOffsets returns, per partition with unconsumed messages, its
// high-water mark: the offset after the last message at this moment.
func (c *Consumer) pendingOffsets(ctx context.Context, client *kafka.Client) (map[partKey]int64, error) {
	offs, err := c.offsets(ctx, client)
	if err != nil {
		return nil, err
	}
	want := map[partKey]int64{}
	for k, o := range offs {
		if unread(o.committed, o.logStart, o.highWater) {
			want[k] = o.highWater
		}
	}
	return want, nil
}

// Lag returns, per topic (short name), how many messages the group has not
// consumed yet: the sum over its partitions of the high-water mark less the
// committed offset (or the log start offset, when that is further on or
// nothing is committed).
func (c *Consumer) Lag(ctx context.Context) (map[string]int64, error) {
	offs, err := c.offsets(ctx, c.client())
	if err != nil {
		return nil, err
	}
	lag := map[string]int64{TopicOrders: 0, TopicIdentities: 0}
	for k, o := range offs {
		lag[k.topic] += max(o.highWater-max(o.committed, o.logStart, 0), 0)
	}
	return lag, nil
}

// partOffsets are one partition's offsets: the group's committed one (-1
// for none), the log start offset and the high-water mark.
type partOffsets struct{ committed, logStart, highWater int64 }

// offsets reads the offsets of every partition of the two topics.
func (c *Consumer) offsets(ctx context.Context, client *kafka.Client) (map[partKey]partOffsets, error) {
	topics := []string{c.opts.TopicPrefix + TopicOrders, c.opts.TopicPrefix + TopicIdentities}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("cannot read topic metadata: %w", err)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			// A topic nobody produced to yet holds nothing to drain.
			continue
		}
		for _, p := range t.Partitions {
			req.Topics[t.Name] = append(req.Topics[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	out := map[partKey]partOffsets{}
	if len(req.Topics) == 0 {
		return out, nil
	}
	offs, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cannot read high-water marks: %w", err)
	}
	done, err := c.committed(ctx, client, parts)
	if err != nil {
		return nil, err
	}
	for topic, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("cannot read offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			k := partKey{short(c.opts.TopicPrefix, topic), p.Partition}
			committed, ok := done[k]
			if !ok {
				committed = -1
			}
			out[k] = partOffsets{committed: committed, logStart: p.FirstOffset, highWater: p.LastOffset}
		}
	}
	return out, nil
}

// unread reports whether a partition holds messages the group has not
// consumed: its high-water mark lies past the group's committed offset (-1
// for none) and past its log start offset (retention may have deleted
// every message after the committed offset, and nobody can read those).
func unread(committed, logStart, highWater int64) bool {
	return highWater > max(committed, logStart, 0)
}

func short(prefix, topic string) string { return topic[len(prefix):] }

// step reads one batch, applies it in one transaction, sends its rejects
// to the dlq and commits its offsets, in that order, so a crash anywhere
// re-delivers at most this batch, which the inbox then skips (its rejects
// go to the dlq again, under the same record ids). Rejects that had been
// stored by an earlier batch go to the dlq before the transaction commits
// (applyTx).
// With firstWait > 0 it returns no messages and no error when no message
// came within firstWait.
func (c *Consumer) step(ctx context.Context, firstWait time.Duration) ([]Message, error) {
	msgs, err := c.stepOnce(ctx, firstWait)
	if err != nil && ctx.Err() == nil {
		// The reader has moved past the failed batch in memory: start a
		// new one from the committed offsets, so the batch comes again.
		c.reader.Close()
		c.reader = c.newReader()
	}
	return msgs, err
}

func (c *Consumer) stepOnce(ctx context.Context, firstWait time.Duration) ([]Message, error) {
	raw, err := c.fetchBatch(ctx, firstWait)
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	msgs := make([]Message, 0, len(raw))
	var markers []kafka.Message
	for _, m := range raw {
		if kafkatopic.IsTxnMarker(m.Key, m.Value) {
			markers = append(markers, m)
			continue
		}
		msgs = append(msgs, Message{Topic: short(c.opts.TopicPrefix, m.Topic), Partition: m.Partition, Offset: m.Offset, Value: m.Value})
	}
	var (
		rejected []Rejected
		counts   Counts
	)
	if len(msgs) > 0 {
		if rejected, counts, err = c.apply(ctx, msgs, true); err != nil {
			return nil, fmt.Errorf("cannot apply batch of %d messages: %w", len(msgs), err)
		}
	}
	counts.Markers = len(markers)
	c.noteMarkers(markers)
	if err := c.sendDLQ(ctx, rejectsOf(rejected, false)); err != nil {
		return nil, err
	}
	if err := c.reader.CommitMessages(ctx, raw...); err != nil {
		return nil, fmt.Errorf("cannot commit offsets: %w", err)
	}
	c.totals.add(counts)
	if c.opts.OnBatch != nil {
		c.opts.OnBatch(counts)
	}
	if counts.Rejected > 0 {
		c.log.Warn("events sent to dlq", "count", counts.Rejected)
	}
	return msgs, nil
}

// noteMarkers warns, at most every ten minutes, that a producer writes to
// the topics in Kafka transactions: the markers are skipped (their offsets
// committed), but kafka-go cannot tell the records of an aborted
// transaction from sent ones, and the settler takes those as sent.
func (c *Consumer) noteMarkers(markers []kafka.Message) {
	if len(markers) == 0 || time.Since(c.markersLogged) < 10*time.Minute {
		return
	}
	c.markersLogged = time.Now()
	m := markers[0]
	c.log.Warn("a producer writes to this topic in Kafka transactions, which the settler does not support: "+
		"it skips the transaction markers but takes the events of an aborted transaction as sent; "+
		"produce without transactions (see deploy/OPERATIONS.md)",
		"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "markers", len(markers))
}

// apply applies msgs in one transaction, run again on serialization
// failures and deadlocks, and returns its rejects (applyTx has sent those
// stored by an earlier batch to the dlq; the caller sends the others after
// the commit). When Postgres refuses the batch for what one of
// its events holds (isolable: a value it cannot store, a CHECK), the same
// batch would fail on every delivery and hold up its partitions for good:
// apply then applies it in halves, each in its own transaction, down to the
// single events Postgres refuses, and rejects those with Postgres's error
// as the reason (to the dlq, like any invalid event). The halves commit one
// by one, in batch order; a crash between them re-delivers the batch, whose
// applied events the inbox then skips. A batch of n messages with k such
// events takes at most about 2k·log2(n) more transactions.
func (c *Consumer) apply(ctx context.Context, msgs []Message, whole bool) ([]Rejected, Counts, error) {
	rejected, counts, err := c.applyTx(ctx, msgs)
	if err == nil || !isolable(err) {
		return rejected, counts, err
	}
	if len(msgs) == 1 {
		m := msgs[0]
		c.log.Warn("event refused by postgres: sent to dlq", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", err)
		return []Rejected{{Message: m, Reason: refusedReason(err)}}, Counts{Rejected: 1}, nil
	}
	if whole {
		c.log.Warn("batch refused by postgres: applying it in parts to find the events", "messages", len(msgs), "error", err)
	}
	half := len(msgs) / 2
	r1, c1, err := c.apply(ctx, msgs[:half], false)
	if err != nil {
		return nil, Counts{}, err
	}
	r2, c2, err := c.apply(ctx, msgs[half:], false)
	if err != nil {
		return nil, Counts{}, err
	}
	c1.add(c2)
	return append(r1, r2...), c1, nil
}

// applyTx applies msgs in one transaction, at most MaxTxAttempts times. The
// rejects that had been stored by an earlier batch (Rejected.Stored: a
// refund refused when its order arrived; its batch's offsets are
// committed, and the transaction deletes it) go to the dlq before the
// transaction commits, as after it the dlq is the only place they could be
// found; should the commit fail, they come again under the same record ids
// (see sendDLQ). Such rejects are rare; the others go after the commit, so
// that Kafka's latency is not spent holding the batch's locks.
func (c *Consumer) applyTx(ctx context.Context, msgs []Message) ([]Rejected, Counts, error) {
	var (
		rejected []Rejected
		counts   Counts
		err      error
	)
	for attempt := 1; ; attempt++ {
		err = pgx.BeginTxFunc(ctx, c.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			var err error
			if rejected, counts, err = ApplyBatch(ctx, tx, c.dec, msgs); err != nil {
				return err
			}
			return c.sendDLQ(ctx, rejectsOf(rejected, true))
		})
		if err == nil || !retryable(err) || attempt >= c.opts.MaxTxAttempts {
			break
		}
	}
	if err != nil {
		return nil, Counts{}, err
	}
	return rejected, counts, nil
}

// rejectsOf returns the rejects whose Stored is stored.
func rejectsOf(rejected []Rejected, stored bool) []Rejected {
	var out []Rejected
	for _, r := range rejected {
		if r.Stored == stored {
			out = append(out, r)
		}
	}
	return out
}

func (n *Counts) add(o Counts) {
	n.Applied += o.Applied
	n.Duplicates += o.Duplicates
	n.Rejected += o.Rejected
	n.Ignored += o.Ignored
	n.Markers += o.Markers
}

// fetchBatch blocks for the first message (at most firstWait when that is
// positive: then it returns an empty batch), then takes what arrives within
// BatchWait, up to BatchSize.
func (c *Consumer) fetchBatch(ctx context.Context, firstWait time.Duration) ([]kafka.Message, error) {
	fctx := ctx
	if firstWait > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, firstWait)
		defer cancel()
	}
	first, err := c.reader.FetchMessage(fctx)
	if err != nil {
		if firstWait > 0 && ctx.Err() == nil && fctx.Err() != nil {
			return nil, nil // nothing came within firstWait
		}
		return nil, err
	}
	batch := []kafka.Message{first}
	wctx, cancel := context.WithTimeout(ctx, c.opts.BatchWait)
	defer cancel()
	for len(batch) < c.opts.BatchSize {
		m, err := c.reader.FetchMessage(wctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			break // the batch wait ran out
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// dlqNamespace derives dlq record ids from the message's place in the log,
// so a re-delivered reject carries the same id and consumers can dedupe.
var dlqNamespace = uuid.MustParse("6c1d7c52-3f8e-4a8e-9f5e-2a1f0b7d9e11")

func (c *Consumer) sendDLQ(ctx context.Context, rejected []Rejected) error {
	if len(rejected) == 0 {
		return nil
	}
	out := make([]kafka.Message, len(rejected))
	now := time.Now().UTC()
	for i, r := range rejected {
		m := r.Message
		rec := events.DLQRecord{
			EventID: uuid.NewSHA1(dlqNamespace, fmt.Appendf(nil, "%s/%d/%d", m.Topic, m.Partition, m.Offset)).String(),
			At:      now, Topic: c.opts.TopicPrefix + m.Topic, Partition: int32(m.Partition), Offset: m.Offset,
			Reason: truncate(r.Reason, events.MaxReasonLen), Payload: m.Value,
		}
		if len(rec.Payload) > events.MaxDLQPayloadBytes {
			rec.Payload, rec.Truncated = rec.Payload[:events.MaxDLQPayloadBytes], true
		}
		out[i] = kafka.Message{Key: []byte(rec.Topic), Value: events.AppendDLQRecord(nil, &rec)} // keyed by the full topic name, as the sink keys its records
	}
	if err := produce.Write(ctx, c.dlq, out...); err != nil {
		return fmt.Errorf("cannot write %d messages to dlq: %w", len(out), err)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// isolable reports an error Postgres gives for what an event holds, the
// same whenever that event is applied: a value it cannot store (class 22:
// a lone surrogate or \u0000 in the jsonb of the event, a number out of
// range, a string too long), a NOT NULL or CHECK violation, a program limit
// (class 54: an index row too large). Not unique or foreign key violations,
// which depend on other rows and on concurrent writers, and no error of the
// server's state (connection, shutdown, resources), after which splitting
// the batch would send sound events to the dlq.
func isolable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "22"), strings.HasPrefix(pgErr.Code, "54"):
		return true
	}
	return pgErr.Code == "23502" || pgErr.Code == "23514"
}

// refusedReason is the dlq reason of an event Postgres refused.
func refusedReason(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		panic("BUG: refusedReason of a non-Postgres error")
	}
	s := "postgres refused the event: " + pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	if pgErr.Detail != "" {
		s += ": " + pgErr.Detail
	}
	return s
}

// retryable reports a serialization failure or deadlock, after which the
// whole transaction may run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}
