package sink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// The sink reads its partitions itself, on kafka-go's consumer-group API
// rather than its Reader. The Reader hands every message to the caller
// through a channel from a goroutine per partition, with up to
// QueueCapacity messages in between: the hop cost about as much as reading
// the message, and by the time the consume loop decoded a message its bytes
// had long left the CPU cache (in a profile of the throughput benchmark the
// decoder's string scan, a few instructions per 8 bytes, ran at DRAM speed).
// Here the goroutine of a partition decodes each message right after it
// copied it off the connection, into a chunk of column buffers (one fetch),
// and hands over the whole chunk; Run appends the chunk's columns to its
// batch.

// fetchMaxWait is how long the broker may hold a fetch open waiting for
// data (the Reader's MaxWait before).
const fetchMaxWait = 250 * time.Millisecond

// generation is one generation of the consumer group. ended is closed when
// it is over: offsets read in it can no longer be committed through it.
type generation struct {
	*kafka.Generation
	ended chan struct{}
}

// isOver reports whether g has ended.
func (g *generation) isOver() bool {
	select {
	case <-g.ended:
		return true
	default:
		return false
	}
}

// position is how far a batch has read a partition: next is the offset to
// commit (after the last message read), in generation gen.
type position struct {
	gen  *generation
	next int64
}

// chunk is one fetch from one partition, decoded by the partition's
// goroutine.
type chunk struct {
	key partKey
	pos position
	b   *batch // the decoded rows, DLQ records and latest event time
}

// groupLoop follows the consumer group's generations until ctx ends: for
// each, a goroutine per assigned partition fetches and decodes into chunks
// sent on out. A generation is kept (its offsets can be committed) after ctx
// ends, until Close: the final flush commits through it.
func (s *Sink) groupLoop(ctx context.Context, out chan<- *chunk) {
	for {
		kgen, err := s.group.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			// The group retries on its own (JoinGroupBackoff).
			s.log.Warn("cannot join the kafka consumer group; retrying", "group", s.cfg.GroupID, "error", err)
			continue
		}
		gen := &generation{Generation: kgen, ended: make(chan struct{})}
		fetchCtx, stopFetching := context.WithCancel(ctx)
		var fetchers sync.WaitGroup
		n := 0
		for topic, parts := range kgen.Assignments {
			for _, p := range parts {
				n++
				fetchers.Add(1)
				go func() {
					defer fetchers.Done()
					s.fetchPartition(fetchCtx, gen, partKey{topic, p.ID}, p.Offset, out)
				}()
			}
		}
		s.log.Info("consumer group generation", "group", s.cfg.GroupID, "generation", kgen.ID, "partitions", n)
		// The generation ends when this function returns: on a rebalance
		// (gctx), or on Close.
		kgen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
			case <-s.closing:
			}
			close(gen.ended)
			stopFetching()
			fetchers.Wait()
		})
	}
}

// fetchPartition reads one partition from offset (a committed offset, or
// kafka.FirstOffset) until ctx ends, sending a chunk per non-empty fetch.
func (s *Sink) fetchPartition(ctx context.Context, gen *generation, key partKey, offset int64, out chan<- *chunk) {
	// Messages below the offset the group had committed, or below the
	// furthest any sink recorded for this partition (sink_partitions: a new
	// group, offsets the broker expired, ClickHouse rebuilt from the
	// topics), were read and inserted before: read again, they are not
	// late (noteLate).
	committed := offset
	if key.topic == s.cfg.TopicPrefix+"clicks" {
		committed = max(committed, s.recordedNext(ctx, key))
	}
	var conn *kafka.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := s.cfg.RetryMin
	retry := func(what string, err error) {
		if conn != nil {
			conn.Close()
			conn = nil
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("cannot "+what+" kafka partition", "topic", key.topic, "partition", key.partition, "offset", offset, "error", err, "retry_in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, s.cfg.RetryMax)
	}
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, offset, err = s.dialPartition(ctx, key, offset); err != nil {
				retry("open", err)
				continue
			}
		}
		c, err := s.fetch(conn, key, offset, committed)
		if c != nil {
			c.pos.gen = gen
			offset = c.pos.next
			select {
			case out <- c:
			case <-ctx.Done():
				return // not committed: read again by this partition's next owner
			}
		}
		switch {
		case err == nil:
			backoff = s.cfg.RetryMin
		case errors.Is(err, kafka.RequestTimedOut):
		case errors.Is(err, kafka.OffsetOutOfRange):
			// Deleted by retention, or the topic was recreated: start over
			// at the partition's first offset, as auto.offset.reset=earliest
			// would (the tables absorb what is read again).
			s.log.Warn("offset out of range; reading the partition from its first offset", "topic", key.topic, "partition", key.partition, "offset", offset)
			conn.Close()
			conn, offset = nil, kafka.FirstOffset
		default:
			retry("read", err)
		}
	}
}

// recordedNext is the furthest offset any sink recorded as read for the
// partition in sink_partitions (0 when none). When it cannot be read, no
// click of this partition is counted late until the next generation
// (math.MaxInt64): a false alarm would send an operator after orders that
// were decided right.
func (s *Sink) recordedNext(ctx context.Context, key partKey) int64 {
	var next int64
	err := s.pg.QueryRow(ctx, `SELECT coalesce(max(next_offset), 0) FROM sink_partitions WHERE topic = $1 AND partition = $2`,
		strings.TrimPrefix(key.topic, s.cfg.TopicPrefix), key.partition).Scan(&next)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("cannot read sink_partitions: late clicks of this partition are not counted until the next rebalance",
				"topic", key.topic, "partition", key.partition, "error", err)
		}
		return math.MaxInt64
	}
	return next
}

// dialPartition connects to the leader of key and seeks to offset
// (kafka.FirstOffset, or out of the partition's range: its first offset).
func (s *Sink) dialPartition(ctx context.Context, key partKey, offset int64) (*kafka.Conn, int64, error) {
	var errs []error
	for _, broker := range s.cfg.Brokers {
		conn, err := s.dialer.DialLeader(ctx, "tcp", broker, key.topic, key.partition)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		first, last, err := conn.ReadOffsets()
		if err != nil {
			conn.Close()
			return nil, offset, fmt.Errorf("read offsets: %w", err)
		}
		if offset < first || offset > last {
			if offset >= 0 {
				s.log.Warn("committed offset out of the partition's range; reading from its first offset", "topic", key.topic, "partition", key.partition, "offset", offset, "first", first, "last", last)
			}
			offset = first
		}
		if _, err := conn.Seek(offset, kafka.SeekAbsolute); err != nil {
			conn.Close()
			return nil, offset, fmt.Errorf("seek: %w", err)
		}
		_ = conn.SetDeadline(time.Time{})
		return conn, offset, nil
	}
	return nil, offset, errors.Join(errs...)
}

// fetch reads one fetch response of key at offset and decodes it into a
// chunk: nil when the fetch held no message. A chunk comes back with the
// error that ended the fetch part way (its messages are good). Clicks from
// committed on that are not newer than the clicks watermark are late
// (noteLate).
func (s *Sink) fetch(conn *kafka.Conn, key partKey, offset, committed int64) (*chunk, error) {
	_ = conn.SetReadDeadline(time.Now().Add(fetchMaxWait + 30*time.Second))
	kb := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: s.cfg.FetchMaxBytes, MaxWait: fetchMaxWait})
	var b *batch
	var h topicHandler
	var maxAt time.Time
	var late lateClicks
	if key.topic == s.cfg.TopicPrefix+"clicks" {
		late.wm = s.clicksWatermark.Load()
	}
	for {
		m, err := kb.ReadMessage()
		if err != nil {
			break
		}
		if b == nil {
			b = s.chunkBatch()
			h = b.handler(key.topic)
		}
		at := b.decode(h, m)
		if at.After(maxAt) {
			maxAt = at
		}
		if late.wm != 0 && m.Offset >= committed && !at.IsZero() && at.UnixNano() <= late.wm {
			late.add(at)
		}
	}
	if late.n > 0 {
		s.noteLate(late)
	}
	next := kb.Offset()
	err := kb.Close()
	_ = conn.SetReadDeadline(time.Time{})
	if b == nil {
		return nil, err
	}
	b.maxAt[key] = maxAt
	return &chunk{key: key, pos: position{next: max(next, offset)}, b: b}, err
}

// chunkBatch is an empty batch for a chunk, reused once Run has taken its
// rows.
func (s *Sink) chunkBatch() *batch {
	if b, ok := s.chunkPool.Get().(*batch); ok {
		return b
	}
	return newBatch(s.cfg.TopicPrefix)
}

// takeChunk moves c's rows, DLQ records and progress into b and recycles
// c's buffers.
func (s *Sink) takeChunk(b *batch, c *chunk) {
	for i, t := range b.tables {
		absorb(t, c.b.tables[i])
	}
	b.messages += c.b.messages
	b.dlq = append(b.dlq, c.b.dlq...)
	if c.b.markers > 0 {
		s.noteMarkers(c.key.topic, c.b.markers)
	}
	b.last[c.key] = c.pos
	if at := c.b.maxAt[c.key]; at.After(b.maxAt[c.key]) {
		b.maxAt[c.key] = at
	}
	c.b.reset()
	s.chunkPool.Put(c.b)
}
