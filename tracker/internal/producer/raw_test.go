package producer

import (
	"bytes"
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
