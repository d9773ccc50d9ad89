package sink

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
)

// TestDLQReasonCutOnARuneBoundary: a long reason is cut to MaxReasonLen
// bytes without splitting a UTF-8 sequence, so the record still encodes.
func TestDLQReasonCutOnARuneBoundary(t *testing.T) {
	long := "x" + strings.Repeat("é", events.MaxReasonLen) // the cut falls inside an "é"
	rec := dlqRecord(kafka.Message{Topic: "aff.clicks", Partition: 1, Offset: 7, Value: []byte("{")}, errors.New(long))
	if len(rec.Reason) > events.MaxReasonLen || !utf8.ValidString(rec.Reason) || len(rec.Reason) < events.MaxReasonLen-1 {
		t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(rec.Reason), utf8.ValidString(rec.Reason))
	}
	if _, err := events.DecodeDLQRecord(events.AppendDLQRecord(nil, &rec)); err != nil {
		t.Fatalf("the DLQ record does not round-trip: %v", err)
	}
}
