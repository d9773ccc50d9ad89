package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/openaff/affiliate/pkg/ledger"
)

// TestMaxAmountIsTheLedgers: the decoder's bound is the ledger's, which it
// does not import.
func TestMaxAmountIsTheLedgers(t *testing.T) {
	if MaxAmountMinor != ledger.MaxAmountMinor {
		t.Fatalf("MaxAmountMinor = %d, ledger.MaxAmountMinor = %d", MaxAmountMinor, ledger.MaxAmountMinor)
	}
}

const (
	refundJSON = `{"v":1,"event_id":"e","type":"order.refunded","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"EUR","amount":"1.00"}`
	cancelJSON = `{"v":1,"event_id":"e","type":"order.cancelled","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"EUR"}`
)

func TestOrderContract(t *testing.T) {
	f := func(valid, old, new, wantField, wantMsg string) {
		t.Helper()
		in := replace(t, valid, old, new)
		_, err := DecodeOrderStrict([]byte(in))
		var fe *FieldError
		if wantField == "" {
			if err != nil {
				t.Errorf("DecodeOrderStrict(%s) = %v, want it accepted", in, err)
			}
			return
		}
		if !errors.As(err, &fe) || fe.Field != wantField || !strings.Contains(fe.Msg, wantMsg) {
			t.Errorf("DecodeOrderStrict(%s) = %v, want field %q with %q", in, err, wantField, wantMsg)
		}
	}
	// order.cancelled cancels the whole order: lines would suggest a partial
	// cancellation, which the settler never did.
	f(cancelJSON, `"currency":"EUR"`, `"currency":"EUR","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"1"}]`,
		"lines", "order.cancelled cancels the whole order; send order.refunded with lines to refund part of it")
	f(cancelJSON, `"currency":"EUR"`, `"currency":"EUR","lines":[]`, "lines", "cancels the whole order")
	f(cancelJSON, `"currency":"EUR"`, `"currency":"EUR","lines":null`, "", "") // null is absent
	// "" is neither a value nor absent: the schemas refuse it, so does the decoder.
	f(validOrderJSON, `"shipping_fee":"4.95"`, `"shipping_fee":""`, "shipping_fee", "must not be empty")
	f(validOrderJSON, `"discount":"10.00"`, `"discount":""`, "lines[0].discount", "must not be empty")
	f(validOrderJSON, `"customer_id":"c-1"`, `"customer_id":""`, "customer_id", "must not be empty")
	f(validOrderJSON, `"device_token":"dt.abc"`, `"device_token":""`, "device_token", "must not be empty")
	f(validOrderJSON, `"category_id":"shoes"`, `"category_id":""`, "lines[0].category_id", "must not be empty")
	f(refundJSON, `"amount":"1.00"`, `"amount":""`, "amount", "must not be empty")
	f(validOrderJSON, `"shipping_fee":"4.95"`, `"shipping_fee":null`, "", "")
	// Ids of spaces only.
	f(validOrderJSON, `"event_id":"evt-1"`, `"event_id":" "`, "event_id", "only spaces")
	f(validOrderJSON, `"order_id":"o-1"`, `"order_id":"\u00a0\u3000"`, "order_id", "only spaces")
	f(validOrderJSON, `"line_id":"l1"`, `"line_id":"\ufeff"`, "lines[0].line_id", "only spaces")
	f(validOrderJSON, `"order_id":"o-1"`, `"order_id":" o 1 "`, "", "") // spaces inside are fine
	// Times: RFC 3339 as JSON Schema's date-time reads it.
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00+24:00"`, "at", "RFC 3339")
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00-99:00"`, "at", "RFC 3339")
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00+01:60"`, "at", "RFC 3339")
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00,5Z"`, "at", "RFC 3339")
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25t10:00:00z"`, "", "")
	f(validOrderJSON, `"2026-11-25T10:00:00Z"`, `"2026-11-25t10:00:00.5-23:59"`, "", "")
	// Amounts the ledger could not post: 2^49 minor units is the most.
	f(validOrderJSON, `"quantity":2,"unit_price":"149.90"`, `"quantity":1,"unit_price":"5629499534213.12"`, "", "")
	f(validOrderJSON, `"quantity":2,"unit_price":"149.90"`, `"quantity":1,"unit_price":"5629499534213.13"`, "lines[0].unit_price", "above the largest amount")
	f(validOrderJSON, `"quantity":2,"unit_price":"149.90"`, `"quantity":1000,"unit_price":"5629499534.22"`, "lines[0].quantity", "above the largest amount")
	// Each line fits, their total does not.
	f(validOrderJSON, `"quantity":2,"unit_price":"149.90","discount":"10.00"`, `"quantity":1,"unit_price":"5629499534213.12"`, "lines", "the lines' total")
	f(refundJSON, `"amount":"1.00"`, `"amount":"5629499534213.13"`, "amount", "above the largest amount")
	f(validOrderJSON, `"shipping_fee":"4.95"`, `"shipping_fee":"5629499534213.13"`, "shipping_fee", "above the largest amount")
}

// What the releases before accepted stays readable from a topic or
// Postgres (DecodeOrder, DecodeIdentity): "" in an optional field is
// absent, an order.cancelled's lines are dropped (it cancels the whole
// order, as it always did), ids of spaces only and times time.Parse reads
// pass. Only a submission (the Strict decoders, the tracker's /v1) refuses
// them.
func TestStoredEventsStayReadable(t *testing.T) {
	o, err := DecodeOrder([]byte(replace(t, cancelJSON, `"currency":"EUR"`,
		`"currency":"EUR","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"1"}]`)))
	if err != nil || o.Type != OrderCancelled || o.Lines != nil {
		t.Fatalf("stored cancel with lines: %+v, %v; want it read, lines dropped", o, err)
	}
	o, err = DecodeOrder([]byte(replace(t, replace(t, validOrderJSON, `"shipping_fee":"4.95"`, `"shipping_fee":""`),
		`"customer_id":"c-1"`, `"customer_id":""`)))
	if err != nil || o.ShippingFeeMinor != 0 || o.CustomerID != "" {
		t.Fatalf("stored order with empty optional fields: %+v, %v; want them absent", o, err)
	}
	e, err := DecodeIdentity([]byte(replace(t, validIdentityJSON, `"email":"a@example.com"`, `"email":""`)))
	if err != nil || e.Email != "" {
		t.Fatalf("stored identity with an empty email: %+v, %v", e, err)
	}
	// Ids of spaces only and the times time.Parse read, too.
	for _, c := range [][2]string{
		{`"customer_id":"c-1"`, `"customer_id":" "`},
		{`"line_id":"l1"`, `"line_id":" "`},
		{`"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00,5Z"`},
		{`"2026-11-25T10:00:00Z"`, `"2026-11-25T10:00:00+24:00"`},
	} {
		in := replace(t, validOrderJSON, c[0], c[1])
		if _, err := DecodeOrder([]byte(in)); err != nil {
			t.Errorf("stored order %s: %v, want it read as before", c[1], err)
		}
		if _, err := DecodeOrderStrict([]byte(in)); err == nil {
			t.Errorf("submitted order %s accepted, want it refused", c[1])
		}
	}
	if _, err := DecodeIdentity([]byte(replace(t, validIdentityJSON, `"customer_id":"c-1"`, `"customer_id":"  "`))); err != nil {
		t.Errorf("stored identity with a customer id of spaces: %v", err)
	}
}

func TestIdentityContract(t *testing.T) {
	f := func(old, new, wantField, wantMsg string) {
		t.Helper()
		in := replace(t, validIdentityJSON, old, new)
		_, err := DecodeIdentityStrict([]byte(in))
		var fe *FieldError
		if wantField == "" {
			if err != nil {
				t.Errorf("DecodeIdentityStrict(%s) = %v, want it accepted", in, err)
			}
			return
		}
		if !errors.As(err, &fe) || fe.Field != wantField || !strings.Contains(fe.Msg, wantMsg) {
			t.Errorf("DecodeIdentityStrict(%s) = %v, want field %q with %q", in, err, wantField, wantMsg)
		}
	}
	f(`"email":"a@example.com"`, `"email":""`, "email", "must not be empty")
	f(`"email":"a@example.com"`, `"email":null`, "", "")
	f(`"email":"a@example.com"`, `"email":"a\u00a0b@example.com"`, "email", "email address")
	f(`"customer_id":"c-1"`, `"customer_id":"  "`, "customer_id", "only spaces")
	f(`"event_id":"evt-9"`, `"event_id":"\u2028"`, "event_id", "only spaces")
}

// TestIsBlank: isBlank is ECMAScript's \s without control characters, which
// for the Unicode version Go carries is unicode.IsSpace plus U+FEFF.
func TestIsBlank(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if isControl(r) || !utf8.ValidRune(r) {
			continue
		}
		if want := unicode.IsSpace(r) || r == 0xfeff; isBlank(r) != want {
			t.Errorf("isBlank(%U) = %v, want %v", r, isBlank(r), want)
		}
	}
}

// schemaDecoderDisagree reports whether the identity schema and
// DecodeIdentity disagree on an identity whose field holds s, leaving out
// the differences the schema README lists: lengths in bytes against
// characters, times outside [2000, 2100) and leap seconds.
func schemaDecoderDisagree(t testing.TB, sch *jsonschema.Schema, field, s string) (bool, string) {
	t.Helper()
	doc := map[string]any{"v": 1, "event_id": "evt-9", "at": "2026-11-25T10:00:00Z", "device_token": "dt.abc", "customer_id": "c-1"}
	doc[field] = s
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	schemaErr := sch.Validate(inst)
	_, decErr := DecodeIdentityStrict(b)
	if (schemaErr == nil) == (decErr == nil) {
		return false, ""
	}
	if decErr != nil {
		msg := decErr.Error()
		if strings.Contains(msg, "longer than") || strings.Contains(msg, "between 2000 and 2100") ||
			field == "email" && len(s) > MaxEmailLen || field == "at" && strings.Contains(s, ":60") {
			return false, ""
		}
	}
	return true, "schema: " + errString(schemaErr) + "; decoder: " + errString(decErr)
}

func errString(err error) string {
	if err == nil {
		return "accepts"
	}
	return err.Error()
}

// TestSchemaAgreesWithDecoder: for ids, emails and times, the schema and the
// decoder accept and refuse the same strings, but for the differences the
// README lists.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	sch := compileSchemas(t)["identity"]
	f := func(field, s string) {
		t.Helper()
		if bad, why := schemaDecoderDisagree(t, sch, field, s); bad {
			t.Errorf("%s %q: %s", field, s, why)
		}
	}
	for _, s := range []string{"c-1", " ", "  x ", "\u00a0", "\ufeff", "\u2003x", "\u0085", "a\u007fb", "\u3000", "é", strings.Repeat("x", 128)} {
		f("customer_id", s)
		f("event_id", s)
	}
	for _, s := range []string{"a@b", "a@b@c", "@b", "a@", "a b@c", "a@b\u00a0", "a\tb@c", "a\u0001@b", "a@@b", "\ufeff@b"} {
		f("email", s)
	}
	for _, s := range []string{"2026-11-25T10:00:00Z", "2026-11-25t10:00:00z", "2026-11-25T10:00:00,5Z", "2026-11-25T10:00:00+24:00",
		"2026-11-25T10:00:00-23:59", "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00+0100", "2026-02-30T10:00:00Z", "2026-11-25T10:00Z"} {
		f("at", s)
	}
}

// FuzzSchemaAgreesWithDecoder is TestSchemaAgreesWithDecoder on any string,
// in each of the identity's string fields.
func FuzzSchemaAgreesWithDecoder(f *testing.F) {
	for _, s := range []string{"c-1", " ", "a@b", "a b@c", "2026-11-25t10:00:00z", "2026-11-25T10:00:00+24:00", "\u00a0", "x\u2028"} {
		f.Add(s, uint8(0))
	}
	fields := []string{"customer_id", "event_id", "email", "at"}
	sch := compileSchemas(f)["identity"]
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		if !utf8.ValidString(s) {
			return // not representable in JSON as itself
		}
		field := fields[int(which)%len(fields)]
		if bad, why := schemaDecoderDisagree(t, sch, field, s); bad {
			t.Fatalf("%s %q: %s", field, s, why)
		}
	})
}
