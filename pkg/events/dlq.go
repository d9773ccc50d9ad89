package events

import (
	"encoding/base64"
	"strconv"
	"time"
)

// MaxDLQPayloadBytes bounds the original message kept in a DLQ record; a
// producer keeps the first MaxDLQPayloadBytes and sets Truncated.
const MaxDLQPayloadBytes = 512 << 10

// DLQRecord is what could not be processed (topic "dlq"): where the
// message was, why it failed, and the message itself.
type DLQRecord struct {
	// EventID is a UUID of the record.
	EventID string
	// At is when the message was given up on, in UTC.
	At time.Time
	// Topic, Partition and Offset locate the original message.
	Topic     string
	Partition int32
	Offset    int64
	// Reason says why, for a human (at most MaxReasonLen bytes).
	Reason string
	// Payload is the original message value (base64 in JSON, so any bytes
	// survive), at most MaxDLQPayloadBytes.
	Payload []byte
	// Truncated is set when Payload is only the start of the message.
	Truncated bool
}

// DecodeDLQRecord decodes and validates one DLQ record.
func DecodeDLQRecord(data []byte) (DLQRecord, error) {
	var d DLQRecord
	var at, payload string
	var hasPartition, hasOffset bool
	var partition int64
	r, err := decodeObject(data, func(r *reader, key []byte) error {
		var err error
		switch string(key) {
		case "event_id":
			if err = r.mark(0, "event_id"); err == nil {
				d.EventID, err = r.str("event_id")
			}
		case "at":
			if err = r.mark(1, "at"); err == nil {
				at, err = r.str("at")
			}
		case "topic":
			if err = r.mark(2, "topic"); err == nil {
				d.Topic, err = r.str("topic")
			}
		case "partition":
			if err = r.mark(3, "partition"); err == nil {
				partition, hasPartition, err = r.integer("partition")
			}
		case "offset":
			if err = r.mark(4, "offset"); err == nil {
				d.Offset, hasOffset, err = r.integer("offset")
			}
		case "reason":
			if err = r.mark(5, "reason"); err == nil {
				d.Reason, err = r.str("reason")
			}
		case "payload":
			if err = r.mark(6, "payload"); err == nil {
				payload, err = r.str("payload")
			}
		case "truncated":
			if err = r.mark(7, "truncated"); err == nil {
				d.Truncated, _, err = r.boolean("truncated")
			}
		default:
			err = r.skipUnknown(string(key))
		}
		return err
	})
	if err != nil {
		return DLQRecord{}, err
	}
	if err := r.unknownErr(); err != nil {
		return DLQRecord{}, err
	}
	if err := checkUUID("event_id", d.EventID, 0); err != nil {
		return DLQRecord{}, err
	}
	if d.At, err = parseTime("at", at); err != nil {
		return DLQRecord{}, err
	}
	if err := checkTopic(d.Topic); err != nil {
		return DLQRecord{}, err
	}
	switch {
	case !hasPartition:
		return DLQRecord{}, missing("partition")
	case partition < 0 || partition > 1<<31-1:
		return DLQRecord{}, fieldErr("partition", "out of range")
	case !hasOffset:
		return DLQRecord{}, missing("offset")
	case d.Offset < 0:
		return DLQRecord{}, fieldErr("offset", "must not be negative")
	}
	d.Partition = int32(partition)
	if d.Reason == "" {
		return DLQRecord{}, missing("reason")
	}
	if err := checkText("reason", d.Reason, MaxReasonLen); err != nil {
		return DLQRecord{}, err
	}
	if d.Payload, err = base64.StdEncoding.Strict().DecodeString(payload); err != nil {
		return DLQRecord{}, fieldErr("payload", "must be standard padded base64")
	}
	if len(d.Payload) > MaxDLQPayloadBytes {
		return DLQRecord{}, fieldErr("payload", "longer than "+strconv.Itoa(MaxDLQPayloadBytes)+" bytes")
	}
	return d, nil
}

// checkTopic checks a Kafka topic name: 1..MaxTopicLen of [a-zA-Z0-9._-].
func checkTopic(s string) error {
	if s == "" {
		return missing("topic")
	}
	if len(s) > MaxTopicLen {
		return fieldErr("topic", "longer than "+strconv.Itoa(MaxTopicLen)+" bytes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fieldErr("topic", "must be a Kafka topic name ([a-zA-Z0-9._-])")
		}
	}
	return nil
}

// AppendDLQRecord appends d as JSON without validating it.
func AppendDLQRecord(dst []byte, d *DLQRecord) []byte {
	dst = append(dst, `{"v":1,"event_id":`...)
	dst = appendString(dst, d.EventID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, d.At)
	dst = append(dst, `,"topic":`...)
	dst = appendString(dst, d.Topic)
	dst = append(dst, `,"partition":`...)
	dst = appendInt(dst, int64(d.Partition))
	dst = append(dst, `,"offset":`...)
	dst = appendInt(dst, d.Offset)
	dst = append(dst, `,"reason":`...)
	dst = appendString(dst, d.Reason)
	dst = append(dst, `,"payload":`...)
	dst = appendBase64(dst, d.Payload)
	if d.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	return append(dst, '}')
}

// MarshalJSON encodes d, refusing a record DecodeDLQRecord would reject.
func (d DLQRecord) MarshalJSON() ([]byte, error) {
	b := AppendDLQRecord(nil, &d)
	if _, err := DecodeDLQRecord(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeDLQRecord.
func (d *DLQRecord) UnmarshalJSON(b []byte) error {
	v, err := DecodeDLQRecord(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
