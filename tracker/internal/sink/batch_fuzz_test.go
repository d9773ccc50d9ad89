package sink

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// FuzzBatchAdd feeds arbitrary message values of every topic to a batch:
// nothing panics, and every message either adds rows or becomes exactly one
// DLQ record with a reason (never both, never neither).
func FuzzBatchAdd(f *testing.F) {
	f.Add(uint8(0), []byte(`{"v":1,"click_id":"0190a5d2-5c3e-7a4b-8c9d-0e1f2a3b4c5d","at":"2026-01-01T00:00:00Z","device_token":"d","partner_id":"p","link_id":"l","kind":"link","target":"https://shop.example/","referer":"","user_agent":"","ip":"","bot":false,"repeat":false}`))
	f.Add(uint8(1), []byte(`{"v":1,"event_id":"e","at":"2026-01-01T00:00:00Z","device_token":"d","customer_id":"c"}`))
	f.Add(uint8(2), []byte(`{"v":1,"event_id":"e","type":"order.placed","order_id":"o","at":"2026-01-01T00:00:00Z","currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"1.00"}]}`))
	f.Add(uint8(3), []byte(`{"v":1}`))
	f.Add(uint8(0), []byte(`not json`))
	f.Add(uint8(2), []byte{})
	f.Fuzz(func(t *testing.T, topic uint8, value []byte) {
		b := newBatch("aff.")
		name := "aff." + Topics[int(topic)%len(Topics)]
		b.add(kafka.Message{Topic: name, Partition: 1, Offset: 7, Value: value})
		rows := 0
		for _, tb := range b.tables {
			rows += tb.rows()
		}
		switch {
		case len(b.dlq) == 1:
			if rows != 0 {
				t.Fatalf("add(%q) = %d rows and a DLQ record, want one or the other", value, rows)
			}
			d := b.dlq[0]
			if d.Reason == "" || d.Topic != name || d.Partition != 1 || d.Offset != 7 || string(d.Payload) != string(value) {
				t.Fatalf("DLQ record %+v does not locate the message or lacks a reason", d)
			}
		case len(b.dlq) == 0:
			if rows == 0 {
				t.Fatalf("add(%q): no rows and no DLQ record", value)
			}
		default:
			t.Fatalf("add(%q): %d DLQ records, want at most 1", value, len(b.dlq))
		}
	})
}
