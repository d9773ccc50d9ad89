// Package events defines the events of DESIGN §4.3 that travel through
// Kafka — identity, order, click, commission fact, store credit and DLQ
// record — with strict decoders and encoders.
//
// Wire format: one JSON object per Kafka message (or per NDJSON line on the
// tracker's /v1 endpoints) with "v": 1 and an event id ("event_id"; a click
// has "click_id"). Amounts are decimal strings in the event's currency
// ("149.90"), never JSON numbers; in Go they are int64 minor units beside a
// money.Currency. Times are RFC 3339; decoders normalise them to UTC and
// encoders write UTC with up to nanosecond precision.
//
// Decoding is strict, because these events carry money:
//   - unknown "v" or order "type": rejected;
//   - unknown fields: rejected (a typo such as "discont" would otherwise
//     silently drop a discount; producers that want to add fields bump "v");
//   - duplicate keys: rejected (encoding/json would keep the last one);
//   - keys match exactly (encoding/json matches case-insensitively);
//   - null is read as "absent": fine for optional fields, "missing" for
//     required ones;
//   - every string is bounded (ids MaxIDLen, URLs MaxURLLen, user agents
//     MaxUserAgentLen), every list is bounded (MaxLines), the whole event is
//     bounded (MaxEventBytes); invalid UTF-8 is rejected;
//   - amounts must be exact in the currency (money.Parse).
//
// Every decoding error is a *FieldError naming the offending field, such as
// "lines[2].quantity".
package events

// Version is the schema version this package reads and writes (field "v").
const Version = 1
