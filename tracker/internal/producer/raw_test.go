package producer

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// A raw chunk decodes, with kafka-go's own record-set decoder, to the
// messages it was made of, in order, for every compression.
func TestRawEncodeDecodes(t *testing.T) {
	var msgs []kafka.Message
	for i := range 300 {
		msgs = append(msgs, kafka.Message{
			Key:   fmt.Appendf(nil, "device-%03d", i),
			Value: bytes.Repeat(fmt.Appendf(nil, `{"click":%d}`, i), 1+i%7),
		})
	}
	now := time.UnixMilli(1767225600123)
	for _, comp := range []kafka.Compression{0, kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd} {
		t.Run(fmt.Sprint(comp), func(t *testing.T) {
			r := newRawClicks(Options{ClicksTopic: "t", Compression: comp, PartitionBatch: 1024}, nil)
			c := &rawChunk{}
			for i := 10; i < 260; i++ {
				c.msgs = append(c.msgs, i)
			}
			if err := r.encode(c, msgs, now); err != nil {
				t.Fatal(err)
			}
			var rs protocol.RecordSet
			if _, err := rs.ReadFrom(bytes.NewReader(c.out.Bytes())); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if rs.Version != 2 || rs.Attributes.Compression() != comp {
				t.Fatalf("version %d, compression %v; want 2, %v", rs.Version, rs.Attributes.Compression(), comp)
			}
			n := 0
			for {
				rec, err := rs.Records.ReadRecord()
				if err != nil {
					break
				}
				k, _ := protocol.ReadAll(rec.Key)
				v, _ := protocol.ReadAll(rec.Value)
				want := msgs[c.msgs[n]]
				if rec.Offset != int64(n) || !bytes.Equal(k, want.Key) || !bytes.Equal(v, want.Value) || !rec.Time.Equal(now) {
					t.Fatalf("record %d: offset %d key %s value %s time %v; want %s %s %v", n, rec.Offset, k, v, rec.Time, want.Key, want.Value, now)
				}
				n++
			}
			if n != len(c.msgs) {
				t.Fatalf("decoded %d records, want %d", n, len(c.msgs))
			}
		})
	}
}

// The raw path puts a device's clicks on the partition the Writer would
// (kafka.Hash over the partitions 0..n-1), and a write that fails returns
// every message, each once, in order within its partition, even when a
// partition has several chunks and only the first was tried.
func TestRawAssignAndFail(t *testing.T) {
	var msgs []kafka.Message
	for i := range 200 {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "AAAAAAAAAAAAAAAAAAA%03d.sig", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	parts := []int{0, 1, 2, 3, 4}
	r := newRawClicks(Options{Brokers: []string{"127.0.0.1:1"}, ClicksTopic: "t", PartitionBatch: 7, WriteTimeout: time.Second}, nil)
	r.assign(msgs, parts)
	var writer kafka.Hash
	seen := 0
	for _, p := range parts {
		for _, i := range r.byPart[p] {
			if want := writer.Balance(msgs[i], parts...); want != p {
				t.Fatalf("message %d on partition %d, the Writer's is %d", i, p, want)
			}
			seen++
		}
	}
	if seen != len(msgs) {
		t.Fatalf("%d of %d messages assigned", seen, len(msgs))
	}

	r.parts, r.until = parts, time.Now().Add(time.Hour) // no metadata request
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := r.write(ctx, msgs)
	if len(failed) != len(msgs) {
		t.Fatalf("%d of %d messages returned as failed", len(failed), len(msgs))
	}
	pos := map[string]int{}
	for i, m := range msgs {
		pos[string(m.Key)] = i
	}
	last := map[int]int{}
	for _, m := range failed {
		i, ok := pos[string(m.Key)]
		if !ok {
			t.Fatalf("unknown or repeated message %s", m.Key)
		}
		delete(pos, string(m.Key))
		p := writer.Balance(m, parts...)
		if prev, ok := last[p]; ok && prev > i {
			t.Fatalf("partition %d: message %d returned after %d", p, i, prev)
		}
		last[p] = i
	}
}
