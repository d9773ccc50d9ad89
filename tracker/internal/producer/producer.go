// Package producer delivers the tracker's events to Kafka without ever
// making a visitor wait, falling back to the disk spool.
//
// Clicks: request handlers Offer a click.Record to a bounded queue and
// return at once. One sender goroutine drains the queue in batches,
// encodes them and writes each batch synchronously (kafka-go Writer,
// Async=false, RequiredAcks=all) with a deadline. A batch that fails or
// times out goes to the spool (fsynced per batch), and while the spool
// holds anything, new batches are appended behind it so that replay keeps
// their order. When the queue is full, the handler appends the click to
// the spool itself (written, fsynced within SyncInterval).
//
// Shop events (/v1): Send writes synchronously and returns nil only once
// Kafka acknowledged every message, or, when Kafka fails or the spool is
// already in use, once they are appended to the spool and fsynced.
//
// A replay goroutine re-sends sealed spool segments, oldest first, and
// deletes a segment only after Kafka acknowledged all of its records. A
// record Kafka refuses for good (over the topic's max.message.bytes,
// invalid) is moved to the spool's quarantine file instead, so that it
// does not hold back the records behind it.
//
// Every produce request stays under MaxBatchBytes (DefaultMaxBatchBytes:
// below the smallest max.message.bytes of the topics written).
package producer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/spool"
)

// ErrUnavailable is returned by Send when the events could be written
// neither to Kafka nor to the spool.
var ErrUnavailable = errors.New("events could not be stored durably")

// Options configure a Producer. Every field is required unless noted.
type Options struct {
	Brokers     []string
	ClicksTopic string
	Spool       *spool.Spool
	Encoder     *click.Encoder
	// QueueSize bounds the in-memory click queue (records).
	QueueSize int
	// BatchSize is the most clicks written to Kafka in one call.
	BatchSize int
	// PartitionBatch is the most messages in one produce request to one
	// partition (kafka-go's Writer.BatchSize; default 1024). kafka-go
	// allocates a batch of this many messages for every partition a write
	// touches, used or not: at 10000 (the sender's batch) a write of 3000
	// clicks over 4 partitions allocated 6 MB, 90 % of what the tracker
	// allocated under load, and its p99 was 8–10 ms instead of 6–7 ms
	// (tracker/README.md). A write with more clicks for one partition goes
	// as several requests.
	PartitionBatch int
	// MaxBatchBytes bounds the messages of one produce request to one
	// partition, in bytes (keys and values before compression, plus
	// MessageOverheadBytes each); 0 means DefaultMaxBatchBytes. It must
	// stay below the smallest max.message.bytes of the topics written: the
	// broker refuses a larger request for good. A message larger than it
	// alone is never sent (a spooled one is quarantined).
	MaxBatchBytes int
	// BatchWait is how long the sender waits to fill a batch once it has
	// the first click.
	BatchWait time.Duration
	// WriteTimeout bounds one synchronous write to Kafka (for a click
	// batch, the raw write and the Writer's fallback together); after it
	// the batch goes to the spool.
	WriteTimeout time.Duration
	// SyncInterval bounds how long a click spooled by a handler (queue
	// full) stays unsynced.
	SyncInterval time.Duration
	// ReplayInterval is how often the spool is retried while Kafka is down.
	ReplayInterval time.Duration
	// AutoCreateTopics lets the broker create missing topics.
	AutoCreateTopics bool
	// Compression of produced batches (0: none).
	Compression kafka.Compression
	// RawClicks sends the sender's batches as record batches encoded by the
	// producer (kafka-go's Client.RawProduce, one request per partition)
	// instead of through the Writer, which still takes whatever a raw write
	// could not deliver (see rawClicks).
	RawClicks bool
	Logger    *slog.Logger
	Metrics   *Metrics
}

// DefaultPartitionBatch is Options.PartitionBatch when it is 0.
const DefaultPartitionBatch = 1024

// DefaultMaxBatchBytes is Options.MaxBatchBytes when it is 0: 900 KiB, a
// tenth below the smallest max.message.bytes of the topics the tracker
// writes (deploy/kafka/topics.sh: 1 MiB for clicks, 2 MiB for identities
// and orders; a broker's default for topics it creates is also 1 MiB). The
// broker measures the record batch as sent (compressed, with its 61-byte
// header and a few bytes per record), kafka-go counts keys and values
// before compression plus MessageOverheadBytes a message, and compression
// can grow incompressible data by a fraction of a percent: the tenth
// covers those differences. Before, the Writer's limit was 16 MiB: a batch
// over the topic's limit was refused for good and jammed the spool.
const DefaultMaxBatchBytes = 900 << 10

// MessageOverheadBytes is what kafka-go's Writer adds to a message's key
// and value when it compares a message or a batch with its BatchBytes
// (Message.totalSize in kafka-go v0.4.51: 4+1+1 bytes of v0 header, 4 for
// the key's length, 4 for the value's, 8 for the timestamp, and 1 for the
// empty header array's varint length; no headers are sent).
const MessageOverheadBytes = 23

// MaxMessageBytes returns the largest key plus value a message may have to
// be written under the given Options.MaxBatchBytes (0: the default). The
// HTTP server refuses larger shop events rather than spool what Kafka will
// never take.
func MaxMessageBytes(maxBatchBytes int) int {
	return cmp.Or(maxBatchBytes, DefaultMaxBatchBytes) - MessageOverheadBytes
}

// Producer is safe for concurrent use.
type Producer struct {
	opts    Options
	queue   chan *click.Record
	clicks  *kafka.Writer
	events  *kafka.Writer
	healthy atomic.Bool // last Kafka write succeeded
	closing atomic.Bool
	done    chan struct{} // closed by Close: drain and exit
	// stopCtx is cancelled when Close's deadline passes: Kafka writes are
	// abandoned and everything left goes to the spool.
	stopCtx context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	logs    rateLimit
	qlogs   rateLimit  // quarantine log lines
	raw     *rawClicks // nil unless Options.RawClicks
	// pendingAt is the time (Unix ns) of the first click of the batch the
	// sender is building or delivering, 0 when it holds none: clicks
	// queued behind it are newer (OldestPending).
	pendingAt atomic.Int64
}

// OldestPending returns the time of the oldest click the producer holds in
// memory (queued, or in the batch being written), or the zero time when it
// holds none. Reported with the spool's oldest record (tracker_spools), it
// keeps the sink's watermarks below clicks that wait for a slow Kafka
// longer than the sink's -watermark-delay: they are neither in Kafka nor
// in the spool yet. Clicks queue in arrival order, so the first click of
// the sender's batch is the oldest; one just queued behind an empty sender
// is at most a moment old.
func (p *Producer) OldestPending() time.Time {
	if ns := p.pendingAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// newWriter returns a writer of clicks or shop events. Both are handed
// whole batches (by the sender, by Send, by the spool replay): a batch is
// flushed 1 ms after it is enqueued rather than after waiting for more.
func newWriter(o Options) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(o.Brokers...),
		Balancer:               &kafka.Hash{}, // key: device token, order id
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              cmp.Or(o.PartitionBatch, DefaultPartitionBatch),
		BatchBytes:             int64(cmp.Or(o.MaxBatchBytes, DefaultMaxBatchBytes)),
		BatchTimeout:           time.Millisecond,
		WriteTimeout:           o.WriteTimeout,
		ReadTimeout:            o.WriteTimeout,
		MaxAttempts:            3,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        500 * time.Millisecond,
		Async:                  false,
		AllowAutoTopicCreation: o.AutoCreateTopics,
		Compression:            o.Compression,
		// kafka.Transport's own metadata cache lives 6 s.
		Transport: &partitionCache{next: kafka.DefaultTransport, ttl: time.Second},
	}
}

// New starts the sender and replay goroutines.
func New(o Options) *Producer {
	p := &Producer{
		opts:   o,
		queue:  make(chan *click.Record, o.QueueSize),
		clicks: newWriter(o),
		events: newWriter(o),
		done:   make(chan struct{}),
	}
	if o.RawClicks {
		p.raw = newRawClicks(o, p.clicks.Transport)
	}
	p.stopCtx, p.stop = context.WithCancel(context.Background())
	p.healthy.Store(true)
	o.Metrics.queueDepth = func() int { return len(p.queue) }
	o.Metrics.spool = o.Spool
	p.wg.Add(2)
	go p.sendLoop()
	go p.replayLoop()
	return p
}

// Healthy reports whether the last write to Kafka succeeded.
func (p *Producer) Healthy() bool { return p.healthy.Load() }

// Offer queues r for delivery and never blocks. When the queue is full it
// appends r to the spool. It takes ownership of r in every case.
func (p *Producer) Offer(r *click.Record) {
	if p.closing.Load() {
		p.spoolRecord(r)
		return
	}
	select {
	case p.queue <- r:
	default:
		p.opts.Metrics.QueueFull.Inc()
		p.spoolRecord(r)
	}
}

func (p *Producer) spoolRecord(r *click.Record) {
	buf := bufPool.Get().(*[]byte)
	v := p.opts.Encoder.Append((*buf)[:0], r)
	err := p.opts.Spool.Append(spool.Record{Topic: p.opts.ClicksTopic, Key: r.Token[:], Value: v})
	*buf = v
	bufPool.Put(buf)
	click.Put(r)
	if err != nil {
		p.lost(1, err)
		return
	}
	p.opts.Metrics.ClicksSpooled.Inc()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (p *Producer) lost(n int, err error) {
	p.opts.Metrics.ClicksLost.Add(n)
	if p.logs.allow() {
		p.opts.Logger.Error("clicks lost: neither kafka nor the spool took them", "count", n, "error", err)
	}
}

// Close stops the producer: the queue is drained to Kafka, or to the spool
// once ctx is done; the spool is fsynced. The caller must stop calling
// Offer and Send first (the HTTP server is shut down before).
func (p *Producer) Close(ctx context.Context) error {
	p.closing.Store(true)
	close(p.done)
	drained := make(chan struct{})
	go func() { p.wg.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		// Kafka is too slow: make the sender spool what is left.
		p.stop()
		<-drained
		err = fmt.Errorf("drain deadline passed, rest spooled: %w", ctx.Err())
	}
	p.stop()
	p.clicks.Close()
	p.events.Close()
	if serr := p.opts.Spool.Sync(); serr != nil {
		return serr
	}
	return err
}

// rateLimit allows one log line per second.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now)
}
