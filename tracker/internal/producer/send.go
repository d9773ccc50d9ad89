package producer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// sendLoop drains the click queue in batches until Close, then drains what
// is left and returns. Each click is encoded as it is taken from the queue,
// not all at once when the batch is full: a batch of thousands of clicks
// encoded in one go holds a core for milliseconds, and the request handlers
// queued behind it on that core waited for the scheduler's 10 ms preemption
// (it was the tracker's p99). The loop also yields every yieldEvery clicks.
func (p *Producer) sendLoop() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var enc encoded
	for {
		enc.reset()
		if len(p.queue) == 0 {
			p.pendingAt.Store(0)
		}
		select {
		case r := <-p.queue:
			p.pendingAt.Store(r.At.UnixNano())
			p.encode(&enc, r)
		case <-p.done:
			// Handlers are gone: drain without waiting.
			for {
				for enc.n < p.opts.BatchSize {
					select {
					case r := <-p.queue:
						p.encode(&enc, r)
						continue
					default:
					}
					break
				}
				if enc.n == 0 {
					p.pendingAt.Store(0)
					return
				}
				p.deliverClicks(&enc)
				enc.reset()
			}
		}
		// Fill the batch until BatchWait has passed since its first click,
		// taking what queued in ticks of pollEvery rather than waking for
		// every click. Parked on the queue, the sender was woken by every
		// handler's send, and a goroutine woken by a channel send runs next
		// on the waking P: after each request the sender went ahead of the
		// connections waiting to run (the tracker's p99 under load fell
		// from ~5.3 to ~4.5 ms without it; tracker/README.md). Close ends
		// the wait at once.
		deadline := time.Now().Add(p.opts.BatchWait)
	fill:
		for enc.n < p.opts.BatchSize {
			select {
			case r := <-p.queue:
				p.encode(&enc, r)
				continue
			default:
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			timer.Reset(min(wait, pollEvery))
			select {
			case <-timer.C:
			case <-p.done:
				timer.Stop()
				break fill
			}
		}
		p.deliverClicks(&enc)
	}
}

// pollEvery is how often the sender takes what queued while it fills a
// batch.
const pollEvery = time.Millisecond

// yieldEvery is how many clicks the sender encodes between two yields to
// the request handlers.
const yieldEvery = 64

// encoded holds the reusable memory of one encoded batch. The messages'
// keys and values point into arena: after a write that kafka-go may still
// be sending (see deliverClicks), arena is replaced, not reused.
type encoded struct {
	n     int // clicks encoded
	arena []byte
	ends  []int
	msgs  []kafka.Message
}

func (e *encoded) reset() { e.n, e.arena, e.ends, e.msgs = 0, e.arena[:0], e.ends[:0], e.msgs[:0] }

// encode appends r's key and event to e and returns r to the pool.
func (p *Producer) encode(e *encoded, r *click.Record) {
	e.arena = append(e.arena, r.Token[:]...)
	e.ends = append(e.ends, len(e.arena))
	e.arena = p.opts.Encoder.Append(e.arena, r)
	e.ends = append(e.ends, len(e.arena))
	click.Put(r)
	if e.n++; e.n%yieldEvery == 0 {
		runtime.Gosched()
	}
}

// deliverClicks writes the encoded batch to Kafka, or to the spool.
func (p *Producer) deliverClicks(e *encoded) {
	start := 0
	for i := 0; i < len(e.ends); i += 2 {
		k, v := e.ends[i], e.ends[i+1]
		e.msgs = append(e.msgs, kafka.Message{Topic: p.opts.ClicksTopic, Key: e.arena[start:k:k], Value: e.arena[k:v:v]})
		start = v
	}
	p.opts.Metrics.ClickBatches.Inc()
	n, lent, err := p.deliverClickMsgs(e.msgs)
	if lent {
		// WriteMessages returns when its context expires, but kafka-go's
		// partition writer keeps the batch and may send it again later,
		// reading the keys and values from the arena: the next clicks get
		// memory of their own (the old arena is the garbage collector's
		// once kafka-go lets go of it).
		e.arena = make([]byte, 0, cap(e.arena))
	}
	p.opts.Metrics.ClicksProduced.Add(len(e.msgs) - n)
	if err != nil {
		p.lost(n, err)
		return
	}
	p.opts.Metrics.ClicksSpooled.Add(n)
}

// deliverClickMsgs is deliver for the sender's batches: through the raw
// path when configured, then the Writer for whatever it did not deliver,
// both within one WriteTimeout (a broker that hangs sends the batch to the
// spool after one timeout, not two). lent reports that kafka-go may still
// read the messages' memory (see deliver).
func (p *Producer) deliverClickMsgs(msgs []kafka.Message) (spooled int, lent bool, err error) {
	ctx, cancel := context.WithTimeout(p.stopCtx, p.opts.WriteTimeout)
	defer cancel()
	if p.raw == nil || p.spoolFirst() {
		return p.deliver(ctx, p.clicks, msgs)
	}
	// The raw path does not keep the messages: a request it gave up on
	// holds its own encoded copy (rawChunk.out).
	failed := p.raw.write(ctx, msgs)
	if len(failed) == 0 {
		return 0, false, nil
	}
	p.opts.Metrics.RawFallbacks.Add(len(failed))
	return p.deliver(ctx, p.clicks, failed)
}

// Send writes shop events synchronously. It returns nil once every message
// was acknowledged by Kafka or appended to the spool and fsynced, and
// ErrUnavailable (wrapped) when neither was possible.
func (p *Producer) Send(msgs []kafka.Message) error {
	ctx, cancel := context.WithTimeout(p.stopCtx, p.opts.WriteTimeout)
	defer cancel()
	// msgs are the caller's and never reused by it (each request decodes
	// into new memory): kafka-go may go on reading them after a timeout.
	n, _, err := p.deliver(ctx, p.events, msgs)
	p.opts.Metrics.EventsProduced.Add(len(msgs) - n)
	if err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	p.opts.Metrics.EventsSpooled.Add(n)
	return nil
}

// deliver writes msgs to Kafka within ctx (derived from stopCtx: Close's
// deadline cancels the write), or to the spool (fsynced) when Kafka is
// unhealthy, the spool already holds records, or the write fails. It
// returns how many messages went to the spool, and an error only when the
// spool refused them. lent reports that the write failed: when it failed
// because ctx expired, kafka-go's partition writers still hold the batch
// and may send it (again) later, reading the messages' keys and values,
// so the caller must not reuse that memory.
func (p *Producer) deliver(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) (spooled int, lent bool, err error) {
	if len(msgs) == 0 {
		return 0, false, nil
	}
	if p.spoolFirst() {
		return len(msgs), false, p.spoolMsgs(msgs)
	}
	werr := w.WriteMessages(ctx, msgs...)
	if werr == nil {
		p.healthy.Store(true)
		return 0, false, nil
	}
	p.healthy.Store(false)
	p.opts.Metrics.KafkaErrors.Inc()
	if p.logs.allow() {
		p.opts.Logger.Warn("kafka write failed, spooling", "messages", len(msgs), "error", summarize(werr))
	}
	failed := msgs
	var we kafka.WriteErrors
	if errors.As(werr, &we) && len(we) == len(msgs) {
		failed = failed[:0:0]
		for i, e := range we {
			if e != nil {
				failed = append(failed, msgs[i])
			}
		}
	}
	return len(failed), true, p.spoolMsgs(failed)
}

func (p *Producer) stopped() bool { return p.stopCtx.Err() != nil }

// spoolFirst reports whether new messages go straight to the spool: Kafka
// is unhealthy, the spool holds records that must be replayed first, or
// Close's deadline has passed.
func (p *Producer) spoolFirst() bool {
	return !p.healthy.Load() || !p.opts.Spool.Empty() || p.stopped()
}

func (p *Producer) spoolMsgs(msgs []kafka.Message) error {
	recs := make([]spool.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = spool.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}
	}
	if err := p.opts.Spool.Append(recs...); err != nil {
		return err
	}
	return p.opts.Spool.Sync()
}

// replayLoop re-sends the spool while the producer runs and fsyncs
// handler-spooled clicks every SyncInterval.
func (p *Producer) replayLoop() {
	defer p.wg.Done()
	replay := time.NewTicker(p.opts.ReplayInterval)
	defer replay.Stop()
	sync := time.NewTicker(p.opts.SyncInterval)
	defer sync.Stop()
	var pos replayPos
	for {
		select {
		case <-p.done:
			return
		case <-sync.C:
			if err := p.opts.Spool.Sync(); err != nil && p.logs.allow() {
				p.opts.Logger.Error("spool fsync failed", "error", err)
			}
		case <-replay.C:
			// A bounded number of segments per tick keeps shutdown prompt.
			for i := 0; i < 64 && p.replayOne(&pos); i++ {
			}
		}
	}
}

// replayPos remembers how far the oldest segment was delivered, so that a
// failure halfway does not resend its first part (within this process).
type replayPos struct {
	path string
	done int
}

// replayOne delivers the oldest segment and removes it. It reports whether
// it did, so the caller may go on with the next one.
func (p *Producer) replayOne(pos *replayPos) bool {
	path, ok, err := p.opts.Spool.Oldest()
	if err != nil || !ok {
		if !ok && err == nil {
			p.healthy.Store(true) // nothing waits: let live traffic try Kafka
		}
		return false
	}
	if pos.path != path {
		*pos = replayPos{path: path}
	}
	var msgs []kafka.Message
	idx := 0
	skipped, err := spool.ReadSegment(path, func(r spool.Record) error {
		if idx >= pos.done {
			msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		idx++
		return nil
	})
	if err != nil {
		p.opts.Logger.Error("cannot read spool segment", "path", path, "error", err)
		return false
	}
	if skipped > 0 {
		p.opts.Metrics.SpoolCorrupt.Inc()
		p.opts.Logger.Warn("spool segment has torn or corrupt records, skipped", "path", path, "bytes", skipped)
	}
	for len(msgs) > 0 {
		n := min(len(msgs), p.opts.BatchSize)
		if !p.replayRange(pos, msgs[:n]) {
			return false
		}
		msgs = msgs[n:]
	}
	if err := p.opts.Spool.Remove(path); err != nil {
		p.opts.Logger.Error("cannot remove replayed spool segment", "path", path, "error", err)
		return false
	}
	*pos = replayPos{}
	return true
}

// replayRange writes msgs, the next records of the oldest segment, in
// order, and moves pos past each one delivered or quarantined. A write
// Kafka refuses for good (refusedForGood) is split in halves, each written
// on its own, down to the single records it refuses, which go to the
// spool's quarantine: a record the broker will never take must not hold
// back the spool, and all traffic queued behind it, for ever. Splitting
// also gets records through to a topic whose max.message.bytes is below
// Options.MaxBatchBytes. Records of a split range that Kafka had taken may
// be sent twice (delivery is at least once). It returns false when a write
// fails otherwise (Kafka down or slow: the next tick retries from pos) or
// the producer stops.
func (p *Producer) replayRange(pos *replayPos, msgs []kafka.Message) bool {
	if p.stopped() {
		return false
	}
	ctx, cancel := context.WithTimeout(p.stopCtx, p.opts.WriteTimeout)
	err := p.events.WriteMessages(ctx, msgs...)
	cancel()
	switch {
	case err == nil:
		p.opts.Metrics.Replayed.Add(len(msgs))
		pos.done += len(msgs)
		return true
	case !refusedForGood(err):
		p.healthy.Store(false)
		p.opts.Metrics.KafkaErrors.Inc()
		if p.logs.allow() {
			p.opts.Logger.Warn("spool replay failed, will retry", "error", summarize(err))
		}
		return false
	case len(msgs) > 1:
		half := len(msgs) / 2
		return p.replayRange(pos, msgs[:half]) && p.replayRange(pos, msgs[half:])
	}
	m := msgs[0]
	if qerr := p.opts.Spool.Quarantine(spool.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}); qerr != nil {
		if p.logs.allow() {
			p.opts.Logger.Error("cannot quarantine a record kafka refused, the replay waits", "topic", m.Topic, "error", qerr)
		}
		return false
	}
	p.opts.Metrics.Quarantined.Inc()
	if p.qlogs.allow() {
		// Not the key: a click's key is a device cookie.
		p.opts.Logger.Error("kafka refused a spooled record for good, moved to the spool's quarantine",
			"topic", m.Topic, "bytes", len(m.Key)+len(m.Value), "error", summarize(err),
			"file", filepath.Join(p.opts.Spool.Dir(), spool.QuarantineName))
	}
	pos.done++
	return true
}

// refusedForGood reports whether every message err reports failed was
// refused by Kafka (or by kafka-go before sending) for what it is, so that
// sending it again can only fail again: larger than the topic's
// max.message.bytes or Options.MaxBatchBytes, invalid or corrupt, a
// timestamp the topic does not accept. Other errors (a broker down or
// slow, no leader, a missing topic) may pass.
func refusedForGood(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		n := 0
		for _, e := range we {
			if e != nil {
				if !refusedForGood(e) {
					return false
				}
				n++
			}
		}
		return n > 0
	}
	for _, target := range refusals {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// refusals are the broker's answers to a record it will never take.
// kafka.InvalidMessage is Kafka's CORRUPT_MESSAGE (a bad checksum); kafka-go
// retries it, and a record that still fails alone is quarantined.
// kafka-go's own refusal of a message over Writer.BatchBytes
// (MessageTooLargeError) unwraps to kafka.MessageSizeTooLarge.
var refusals = []error{
	kafka.MessageSizeTooLarge,
	kafka.RecordListTooLarge,
	kafka.InvalidMessage,
	kafka.InvalidMessageSize,
	kafka.InvalidRecord,
	kafka.InvalidTimestamp,
}

// summarize shortens kafka.WriteErrors, whose text repeats every message's
// error, to a count and the first error.
func summarize(err error) string {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err.Error()
	}
	for _, e := range we {
		if e != nil {
			return fmt.Sprintf("%d of %d messages failed, first: %v", we.Count(), len(we), e)
		}
	}
	return err.Error()
}
