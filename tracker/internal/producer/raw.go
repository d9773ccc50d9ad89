package producer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// rawClicks is the sender's optional way to Kafka (Options.RawClicks):
// one produce request per partition and chunk, carrying a record batch
// (magic v2) encoded here and sent with kafka-go's Client.RawProduce, with
// the same acknowledgements (all), partitioner (kafka.Hash over the device
// token) and compression as the Writer. The Writer asks for the topic's
// metadata and hashes for every message, builds per-partition batches in
// goroutines and encodes every record through interfaces; under load that
// was ~10 % of the tracker's CPU (tracker/README.md). Whatever a raw write
// could not deliver goes through the Writer (deliver), which retries,
// creates a missing topic and spools what still fails.
//
// It is used by the sender goroutine only.
type rawClicks struct {
	client   *kafka.Client
	topic    string
	codec    kafka.CompressionCodec // nil: none
	maxRecs  int                    // records per chunk (PartitionBatch)
	maxBytes int                    // bytes per chunk: rawChunkBytes or less
	balancer kafka.Hash

	parts []int // partition ids, from metadata
	until time.Time

	byPart map[int][]int // message indices per partition, reused
	chunks []rawChunk
}

// rawChunkBytes caps a chunk's records before compression (counted as the
// Writer counts them, with MessageOverheadBytes each), well below the
// broker's default message.max.bytes (1 MiB) even uncompressed; a lower
// Options.MaxBatchBytes lowers it.
const rawChunkBytes = 512 << 10

type rawChunk struct {
	partition int
	msgs      []int // indices into the batch
	records   bytes.Buffer
	out       bytes.Buffer
	err       error
}

func newRawClicks(o Options, transport kafka.RoundTripper) *rawClicks {
	return &rawClicks{
		client:   &kafka.Client{Addr: kafka.TCP(o.Brokers...), Timeout: o.WriteTimeout, Transport: transport},
		topic:    o.ClicksTopic,
		codec:    o.Compression.Codec(),
		maxRecs:  cmp.Or(o.PartitionBatch, DefaultPartitionBatch),
		maxBytes: min(rawChunkBytes, cmp.Or(o.MaxBatchBytes, DefaultMaxBatchBytes)),
		byPart:   make(map[int][]int),
	}
}

// partitions returns the topic's partition ids, asked for at most once a
// second.
func (r *rawClicks) partitions(ctx context.Context, now time.Time) ([]int, error) {
	if len(r.parts) > 0 && now.Before(r.until) {
		return r.parts, nil
	}
	md, err := r.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 {
		return nil, fmt.Errorf("no metadata for topic %s", r.topic)
	}
	t := md.Topics[0]
	if t.Error != nil {
		return nil, t.Error
	}
	if len(t.Partitions) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", r.topic)
	}
	r.parts = r.parts[:0]
	for _, p := range t.Partitions {
		r.parts = append(r.parts, p.ID)
	}
	// In order, as the Writer hands them to its balancer: a device's
	// clicks go to the same partition either way.
	slices.Sort(r.parts)
	r.until = now.Add(time.Second)
	return r.parts, nil
}

// write produces msgs and returns those that were not acknowledged.
func (r *rawClicks) write(ctx context.Context, msgs []kafka.Message) (failed []kafka.Message) {
	now := time.Now()
	parts, err := r.partitions(ctx, now)
	if err != nil {
		return msgs
	}
	r.assign(msgs, parts)
	// Chunks: per partition, in order, at most maxRecs records and maxBytes
	// (a message larger than that alone).
	n := 0
	for _, p := range parts {
		idx := r.byPart[p]
		for len(idx) > 0 {
			if n == len(r.chunks) {
				r.chunks = append(r.chunks, rawChunk{})
			}
			c := &r.chunks[n]
			n++
			c.partition = p
			c.msgs = c.msgs[:0]
			size := 0
			for len(idx) > 0 && len(c.msgs) < r.maxRecs {
				m := &msgs[idx[0]]
				n := MessageOverheadBytes + len(m.Key) + len(m.Value)
				if len(c.msgs) > 0 && size+n > r.maxBytes {
					break
				}
				size += n
				c.msgs = append(c.msgs, idx[0])
				idx = idx[1:]
			}
			c.err = r.encode(c, msgs, now)
		}
	}
	// One goroutine per partition sends its chunks in order.
	var wg sync.WaitGroup
	for start := 0; start < n; {
		end := start + 1
		for end < n && r.chunks[end].partition == r.chunks[start].partition {
			end++
		}
		wg.Add(1)
		go func(cs []rawChunk) {
			defer wg.Done()
			for i := range cs {
				if cs[i].err == nil {
					cs[i].err = r.produce(ctx, &cs[i])
				}
				if cs[i].err != nil {
					// A request given up on (deadline) may still be read
					// from c.out by kafka-go: the next batch gets a new one.
					cs[i].out = bytes.Buffer{}
					for j := i + 1; j < len(cs); j++ { // keep the partition's order
						cs[j].err = cs[i].err
					}
					return
				}
			}
		}(r.chunks[start:end])
		start = end
	}
	wg.Wait()
	for i := range r.chunks[:n] {
		if c := &r.chunks[i]; c.err != nil {
			for _, j := range c.msgs {
				failed = append(failed, msgs[j])
			}
		}
	}
	return failed
}

// assign fills r.byPart: the messages of each partition, in order. The
// balancer returns a position in parts (the Writer gives it 0..n-1 and
// takes the position as the partition).
func (r *rawClicks) assign(msgs []kafka.Message, parts []int) {
	for k, v := range r.byPart {
		r.byPart[k] = v[:0]
	}
	for i := range msgs {
		p := parts[r.balancer.Balance(msgs[i], parts...)]
		r.byPart[p] = append(r.byPart[p], i)
	}
}

func (r *rawClicks) produce(ctx context.Context, c *rawChunk) error {
	res, err := r.client.RawProduce(ctx, &kafka.RawProduceRequest{
		Topic: r.topic, Partition: c.partition, RequiredAcks: kafka.RequireAll,
		RawRecords: protocol.RawRecordSet{Reader: bytes.NewReader(c.out.Bytes())},
	})
	switch {
	case err != nil:
		return err
	case res == nil:
		return errors.New("no produce response")
	case res.Error != nil:
		return res.Error
	}
	for _, e := range res.RecordErrors {
		return e
	}
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Offsets in a record batch (magic v2) after its size prefix.
const (
	batchHeaderLen = 61
	batchCRCAt     = 17
	batchAttrsAt   = 21
)

// encode writes c's messages into c.out as the records field of a produce
// request: the batch's size, then one record batch (magic v2), its records
// compressed with r.codec. Every record is stamped with now.
func (r *rawClicks) encode(c *rawChunk, msgs []kafka.Message, now time.Time) error {
	c.records.Reset()
	var v [binary.MaxVarintLen64]byte
	varint := func(x int64) int { return binary.PutVarint(v[:], x) }
	for delta, i := range c.msgs {
		m := &msgs[i]
		// attributes, timestamp delta, offset delta, key, value, no headers
		size := 1 + varint(0) + varint(int64(delta)) + varint(int64(len(m.Key))) + len(m.Key) +
			varint(int64(len(m.Value))) + len(m.Value) + varint(0)
		c.records.Write(v[:varint(int64(size))])
		c.records.WriteByte(0)
		c.records.Write(v[:varint(0)])
		c.records.Write(v[:varint(int64(delta))])
		c.records.Write(v[:varint(int64(len(m.Key)))])
		c.records.Write(m.Key)
		c.records.Write(v[:varint(int64(len(m.Value)))])
		c.records.Write(m.Value)
		c.records.Write(v[:varint(0)])
	}
	c.out.Reset()
	var h [4 + batchHeaderLen]byte
	c.out.Write(h[:]) // filled in below
	var attrs int16
	if r.codec != nil {
		attrs = int16(r.codec.Code())
		w := r.codec.NewWriter(&c.out)
		if _, err := w.Write(c.records.Bytes()); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	} else {
		c.out.Write(c.records.Bytes())
	}
	b := c.out.Bytes()
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(len(b)-4))   // record set size
	be.PutUint64(b[4:], 0)                  // base offset
	be.PutUint32(b[12:], uint32(len(b)-16)) // batch length
	be.PutUint32(b[16:], 0xffffffff)        // partition leader epoch: none
	b[20] = 2                               // magic
	be.PutUint16(b[4+batchAttrsAt:], uint16(attrs))
	be.PutUint32(b[27:], uint32(len(c.msgs)-1)) // last offset delta
	ms := uint64(now.UnixMilli())
	be.PutUint64(b[31:], ms)                 // first timestamp
	be.PutUint64(b[39:], ms)                 // max timestamp
	be.PutUint64(b[47:], 0xffffffffffffffff) // producer id: none
	be.PutUint16(b[55:], 0xffff)             // producer epoch
	be.PutUint32(b[57:], 0xffffffff)         // base sequence
	be.PutUint32(b[61:], uint32(len(c.msgs)))
	be.PutUint32(b[4+batchCRCAt:], crc32.Checksum(b[4+batchAttrsAt:], castagnoli))
	return nil
}
