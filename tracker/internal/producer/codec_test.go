package producer

import (
	"bytes"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"
)

// TestSnappyFast: the writers' snappy codec is the fast one, and what it
// writes reads back (the broker and every consumer decode it with the
// standard snappy reader).
func TestSnappyFast(t *testing.T) {
	if compress.SnappyCodec.Compression != snappy.FasterCompression {
		t.Fatalf("snappy codec compression = %v, want FasterCompression", compress.SnappyCodec.Compression)
	}
	codec := kafka.Snappy.Codec()
	data := bytes.Repeat([]byte(`{"v":1,"click_id":"019ab9f0-7c1e-7cc2-8f3e-0123456789ab","kind":"link"}`), 2000)
	var buf bytes.Buffer
	w := codec.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() >= len(data)/4 {
		t.Fatalf("compressed %d bytes into %d", len(data), buf.Len())
	}
	r := (&snappy.Codec{}).NewReader(&buf)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (want %d), err %v", len(got), len(data), err)
	}
}
