package producer

import (
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"
)

// kafka-go finds its codecs in a global table, and its snappy codec
// compresses with s2's "better" mode unless told otherwise: 4.9 % of the
// tracker's CPU in a profile under `make bench-tracker`. The fast mode
// compresses a batch of 1024 clicks 3.4 times faster (190 µs against
// 640 µs) into 10 % more bytes (60 KB against 55 KB of 338 KB). Set here,
// once, before any Writer exists; it applies to every snappy writer of this
// binary.
func init() { compress.SnappyCodec.Compression = snappy.FasterCompression }
