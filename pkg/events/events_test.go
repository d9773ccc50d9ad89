package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

func TestDecodeValidExamples(t *testing.T) {
	o, err := DecodeOrder([]byte(validOrderJSON))
	if err != nil {
		t.Fatalf("DecodeOrder: %v", err)
	}
	if o.Currency != eur || len(o.Lines) != 2 || o.Lines[0].UnitPriceMinor != 14990 || o.Lines[0].DiscountMinor != 1000 ||
		o.Lines[0].BaseMinor() != 28980 || o.Lines[1].UnitPriceMinor != 500 || o.ShippingFeeMinor != 495 || o.Lines[0].CategoryID != "shoes" {
		t.Fatalf("DecodeOrder = %+v", o)
	}
	id, err := DecodeIdentity([]byte(validIdentityJSON))
	if err != nil {
		t.Fatalf("DecodeIdentity: %v", err)
	}
	if want := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC); id.At != want || id.At.Location() != time.UTC {
		t.Fatalf("DecodeIdentity at = %v, want %v in UTC", id.At, want)
	}
	c, err := DecodeClick([]byte(validClickJSON))
	if err != nil {
		t.Fatalf("DecodeClick: %v", err)
	}
	if c.IP != netip.MustParseAddr("203.0.113.0") || c.Kind != KindLink || c.At.Nanosecond() != 5e8 {
		t.Fatalf("DecodeClick = %+v", c)
	}
	cm, err := DecodeCommission([]byte(validCommissionJSON))
	if err != nil || cm.AmountMinor != 2898 || cm.BaseMinor != 28980 || cm.State != StatePending {
		t.Fatalf("DecodeCommission = %+v, %v", cm, err)
	}
	sc, err := DecodeStoreCredit([]byte(validStoreCreditJSON))
	if err != nil || sc.AmountMinor != 1500 || sc.Currency != jpy {
		t.Fatalf("DecodeStoreCredit = %+v, %v", sc, err)
	}
	d, err := DecodeDLQRecord([]byte(validDLQJSON))
	if err != nil || string(d.Payload) != `{"v":1}` || d.Partition != 3 || d.Offset != 1234 {
		t.Fatalf("DecodeDLQRecord = %+v, %v", d, err)
	}
}

func TestRoundTrips(t *testing.T) {
	c := sampleClick()
	got, err := DecodeClick(AppendClick(nil, &c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("DecodeClick(AppendClick(c)) = %+v, %v; want %+v", got, err, c)
	}
	c.ProductID, c.CategoryID, c.Referer, c.UserAgent, c.IP = "", "", "", "", netip.Addr{}
	got, err = DecodeClick(AppendClick(nil, &c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("minimal click round trip = %+v, %v; want %+v", got, err, c)
	}

	o := sampleOrder()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var o2 Order
	if err := json.Unmarshal(b, &o2); err != nil || !reflect.DeepEqual(o2, o) {
		t.Fatalf("order round trip = %+v, %v; want %+v\n%s", o2, err, o, b)
	}
	refund := Order{EventID: "e2", Type: OrderRefunded, OrderID: "o-1", At: t0, Currency: jpy, AmountMinor: 300}
	if got, err := DecodeOrder(AppendOrder(nil, &refund)); err != nil || !reflect.DeepEqual(got, refund) {
		t.Fatalf("refund round trip = %+v, %v", got, err)
	}

	id := Identity{EventID: "e", At: t0, DeviceToken: "dt", CustomerID: "c", Email: "x@y.z"}
	if got, err := DecodeIdentity(AppendIdentity(nil, &id)); err != nil || got != id {
		t.Fatalf("identity round trip = %+v, %v", got, err)
	}
	cm := Commission{EventID: NewID(), At: t0, CommissionID: "1", OrderID: "o", LineID: "l", PartnerID: "p",
		Currency: eur, AmountMinor: -150, State: StateClawedBack, BaseMinor: 1500}
	if got, err := DecodeCommission(AppendCommission(nil, &cm)); err != nil || got != cm {
		t.Fatalf("commission round trip = %+v, %v", got, err)
	}
	sc := StoreCredit{EventID: NewID(), At: t0, RequestID: "r", PartnerID: "p", CustomerID: "c", Currency: eur, AmountMinor: 1}
	if got, err := DecodeStoreCredit(AppendStoreCredit(nil, &sc)); err != nil || got != sc {
		t.Fatalf("store credit round trip = %+v, %v", got, err)
	}
	d := DLQRecord{EventID: NewID(), At: t0, Topic: "aff.clicks", Partition: 1, Offset: 2, Reason: "bad", Payload: []byte{0, 0xff, '\n'}, Truncated: true}
	if got, err := DecodeDLQRecord(AppendDLQRecord(nil, &d)); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("dlq round trip = %+v, %v", got, err)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	o := sampleOrder()
	o.Lines[0].Quantity = 0
	if _, err := json.Marshal(o); err == nil {
		t.Fatalf("json.Marshal of an order with quantity 0 succeeded")
	}
	c := sampleClick()
	c.IP = netip.MustParseAddr("203.0.113.7") // not anonymised
	if _, err := c.MarshalJSON(); err == nil {
		t.Fatalf("MarshalJSON of a click with a full IP succeeded")
	}
	if _, err := (StoreCredit{}).MarshalJSON(); err == nil {
		t.Fatalf("MarshalJSON of an empty store credit succeeded")
	}
}

// replace returns validOrderJSON with old replaced by new (once, and it must
// be there).
func replace(t *testing.T, base, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("fixture lacks %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

func assertFieldError(t *testing.T, err error, field, msg string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *FieldError for %q", err, err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Msg, msg) {
		t.Fatalf("error field %q msg %q, want field %q msg containing %q", fe.Field, fe.Msg, field, msg)
	}
	if field != "" && !strings.HasPrefix(fe.Error(), field+": ") {
		t.Fatalf("Error() = %q does not name %q", fe.Error(), field)
	}
}

func TestDecodeOrderErrors(t *testing.T) {
	f := func(old, new, field, msg string) {
		t.Helper()
		in := replace(t, validOrderJSON, old, new)
		_, err := DecodeOrder([]byte(in))
		assertFieldError(t, err, field, msg)
	}
	// version and type
	f(`"v":1`, `"v":2`, "v", "unsupported schema version 2")
	f(`"v":1,`, ``, "v", "missing")
	f(`"v":1`, `"v":"1"`, "v", "JSON integer")
	f(`"v":1`, `"v":1.0`, "v", "integer")
	f(`"v":1`, `"v":2,"brand_new":true`, "v", "unsupported") // version wins over unknown fields
	f(`"order.placed"`, `"order.shipped"`, "type", "unknown order type")
	f(`"type":"order.placed",`, ``, "type", "missing")
	// strictness
	f(`"shipping_fee"`, `"shiping_fee"`, "shiping_fee", "unknown field")
	f(`"discount":"10.00"`, `"discont":"10.00"`, "lines[0].discont", "unknown field")
	f(`"order_id":"o-1"`, `"order_id":"o-1","order_id":"o-2"`, "order_id", "duplicate field")
	f(`"quantity":2`, `"quantity":2,"quantity":3`, "lines[0].quantity", "duplicate field")
	f(`"order_id"`, `"Order_ID"`, "Order_ID", "unknown field") // keys are case-sensitive
	// required fields
	f(`"event_id":"evt-1",`, ``, "event_id", "missing")
	f(`"event_id":"evt-1"`, `"event_id":null`, "event_id", "missing")
	f(`"order_id":"o-1",`, ``, "order_id", "missing")
	f(`"at":"2026-11-25T10:00:00Z",`, ``, "at", "missing")
	f(`"currency":"EUR",`, ``, "currency", "missing")
	f(`"line_id":"l2",`, ``, "lines[1].line_id", "missing")
	f(`"product_id":"p2",`, ``, "lines[1].product_id", "missing")
	f(`"quantity":1,`, ``, "lines[1].quantity", "missing")
	f(`,"unit_price":"5"`, ``, "lines[1].unit_price", "missing")
	// quantities
	f(`"quantity":2`, `"quantity":0`, "lines[0].quantity", "positive")
	f(`"quantity":2`, `"quantity":-1`, "lines[0].quantity", "positive")
	f(`"quantity":2`, `"quantity":1.5`, "lines[0].quantity", "integer")
	f(`"quantity":2`, `"quantity":2e0`, "lines[0].quantity", "integer")
	f(`"quantity":2`, `"quantity":"2"`, "lines[0].quantity", "JSON integer")
	f(`"quantity":2`, `"quantity":1000001`, "lines[0].quantity", "larger than")
	f(`"quantity":2`, `"quantity":99999999999999999999`, "lines[0].quantity", "out of range")
	// amounts
	f(`"149.90"`, `149.90`, "lines[0].unit_price", "decimal string")
	f(`"149.90"`, `"149.901"`, "lines[0].unit_price", "more decimals than EUR allows (2)")
	f(`"149.90"`, `"1.4990e2"`, "lines[0].unit_price", "decimal string")
	f(`"149.90"`, `"-149.90"`, "lines[0].unit_price", "negative")
	f(`"149.90"`, `"149,90"`, "lines[0].unit_price", "decimal string")
	f(`"149.90"`, `"92233720368547758.08"`, "lines[0].unit_price", "out of range")
	f(`"149.90"`, `"92233720368547758.07"`, "lines[0].unit_price", "above the largest amount") // above ledger.MaxAmountMinor
	f(`"149.90"`, `"5629499534213.12"`, "lines[0].quantity", "above the largest amount")       // 2^49 minor units, × 2 above it
	f(`"discount":"10.00"`, `"discount":"300.00"`, "lines[0].discount", "exceeds")
	f(`"4.95"`, `"4.955"`, "shipping_fee", "more decimals")
	f(`"currency":"EUR"`, `"currency":"XYZ"`, "currency", "unknown currency")
	f(`"currency":"EUR"`, `"currency":"eur"`, "currency", "unknown currency")
	f(`"currency":"EUR"`, `"currency":"JPY"`, "shipping_fee", "more decimals than JPY allows (0)")
	// times
	f(`"2026-11-25T10:00:00Z"`, `"2026-11-25 10:00:00"`, "at", "RFC 3339")
	f(`"2026-11-25T10:00:00Z"`, `"2026-11-25"`, "at", "RFC 3339")
	f(`"2026-11-25T10:00:00Z"`, `"1999-12-31T23:59:59Z"`, "at", "between 2000 and 2100")
	f(`"2026-11-25T10:00:00Z"`, `1764064800`, "at", "must be a string")
	// bounds
	f(`"order_id":"o-1"`, `"order_id":"`+strings.Repeat("x", 129)+`"`, "order_id", "longer than 128")
	f(`"customer_id":"c-1"`, `"customer_id":"c\u0001"`, "customer_id", "control character")
	f(`"device_token":"dt.abc"`, `"device_token":"dt abc"`, "device_token", "printable ASCII")
	f(`"line_id":"l2"`, `"line_id":"l1"`, "lines[1].line_id", "duplicate line_id (also lines[0])")
	// JSON itself
	f(`"o-1"`, `"o-1`, "", "invalid JSON")
	f(`"o-1"`, "\"o\xff\"", "order_id", "invalid UTF-8")
	f(`"o-1"`, "\"o\n\"", "order_id", "control character")
	f(`"shipping_fee":"4.95"}`, `"shipping_fee":"4.95"}{}`, "", "unexpected data after the event")
	f(`"shipping_fee":"4.95"}`, `"shipping_fee":"4.95","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "x", "nested too deep")
	f(`"lines":[`, `"lines":{`, "lines", "expected an array")
	f(`"lines":[{`, `"lines":[7,{`, "lines[0]", "expected an object")
}

func TestDecodeOrderTypes(t *testing.T) {
	ok := func(in string) Order {
		t.Helper()
		o, err := DecodeOrder([]byte(in))
		if err != nil {
			t.Fatalf("DecodeOrder(%s): %v", in, err)
		}
		return o
	}
	bad := func(in, field, msg string) {
		t.Helper()
		_, err := DecodeOrder([]byte(in))
		assertFieldError(t, err, field, msg)
	}
	head := `{"v":1,"event_id":"e","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"EUR",`
	// Refund of line quantities, or of an amount; not both, not neither.
	if o := ok(head + `"type":"order.refunded","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"149.90"}]}`); o.Lines[0].Quantity != 1 {
		t.Fatalf("refund lines = %+v", o.Lines)
	}
	if o := ok(head + `"type":"order.refunded","amount":"20.00"}`); o.AmountMinor != 2000 {
		t.Fatalf("refund amount = %d", o.AmountMinor)
	}
	bad(head+`"type":"order.refunded"}`, "lines", "lines (the quantities refunded) or an amount")
	bad(head+`"type":"order.refunded","lines":[]}`, "lines", "at least one line")
	bad(head+`"type":"order.refunded","amount":"0"}`, "amount", "positive")
	bad(head+`"type":"order.refunded","amount":"1","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"1"}]}`, "amount", "not both")
	// Placed needs lines; only refunds carry an amount.
	bad(head+`"type":"order.placed"}`, "lines", "at least one line")
	bad(head+`"type":"order.placed","lines":null}`, "lines", "at least one line")
	bad(head+`"type":"order.cancelled","amount":"5.00"}`, "amount", "only order.refunded")
	// Cancelled and delivered need no lines.
	ok(head + `"type":"order.cancelled"}`)
	ok(head + `"type":"order.delivered","customer_id":null}`)
	// Too many lines.
	var sb strings.Builder
	sb.WriteString(head + `"type":"order.placed","lines":[`)
	for i := 0; i <= MaxLines; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"line_id":"l` + itoa(i) + `","product_id":"p","quantity":1,"unit_price":"1"}`)
	}
	sb.WriteString(`]}`)
	bad(sb.String(), "lines", "more than 1000 lines")
	bad(`[]`, "", "expected an object")
	bad(``, "", "expected an object")
	bad(`{"v":1,"type":"order.placed"`, "", "invalid JSON")
	if _, err := DecodeOrder(bytes.Repeat([]byte(" "), MaxEventBytes+1)); err == nil {
		t.Fatalf("DecodeOrder accepted an event over MaxEventBytes")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestDecodeIdentityErrors(t *testing.T) {
	f := func(old, new, field, msg string) {
		t.Helper()
		_, err := DecodeIdentity([]byte(replace(t, validIdentityJSON, old, new)))
		assertFieldError(t, err, field, msg)
	}
	f(`"device_token":"dt.abc",`, ``, "device_token", "missing")
	f(`"customer_id":"c-1",`, ``, "customer_id", "missing")
	f(`"a@example.com"`, `"not-an-email"`, "email", "email address")
	f(`"a@example.com"`, `"a @example.com"`, "email", "email address")
	f(`"a@example.com"`, `"`+strings.Repeat("a", 250)+`@x.com"`, "email", "email address")
	f(`"v":1`, `"v":0`, "v", "unsupported schema version 0")
	f(`"email"`, `"e_mail"`, "e_mail", "unknown field")
	f(`"at":"2026-11-25T10:00:00+01:00"`, `"at":"2026-11-25T10:00:00+01:00","at":"2026-11-25T10:00:00Z"`, "at", "duplicate")
	// Email is optional.
	if _, err := DecodeIdentity([]byte(replace(t, validIdentityJSON, `,"email":"a@example.com"`, ``))); err != nil {
		t.Fatalf("identity without email: %v", err)
	}
}

func TestDecodeClickErrors(t *testing.T) {
	f := func(old, new, field, msg string) {
		t.Helper()
		_, err := DecodeClick([]byte(replace(t, validClickJSON, old, new)))
		assertFieldError(t, err, field, msg)
	}
	f(`"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"not-a-uuid"`, "click_id", "UUID")
	f(`"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"019AB9F0-7C1E-7CC2-8F3E-0123456789AB"`, "click_id", "lower-case")
	f(`"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"{019ab9f0-7c1e-7cc2-8f3e-0123456789ab}"`, "click_id", "UUID")
	f(`"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"019ab9f0-7c1e-4cc2-8f3e-0123456789ab"`, "click_id", "version 7")
	f(`"kind":"link"`, `"kind":"banner"`, "kind", "link, slug or deep")
	f(`"https://shop.example/p/1"`, `"javascript:alert(1)"`, "target", "absolute http")
	f(`"https://shop.example/p/1"`, `"/p/1"`, "target", "absolute http")
	f(`"https://shop.example/p/1"`, `"https://shop.example/`+strings.Repeat("a", 2048)+`"`, "target", "longer than 2048")
	f(`"Mozilla/5.0"`, `"`+strings.Repeat("M", 513)+`"`, "user_agent", "longer than 512")
	f(`"https://blog.example/"`, `"`+strings.Repeat("r", 2049)+`"`, "referer", "longer than 2048")
	f(`"203.0.113.0"`, `"203.0.113.7"`, "ip", "anonymised")
	f(`"203.0.113.0"`, `"2001:db8:1:2::"`, "ip", "anonymised")
	f(`"203.0.113.0"`, `"::ffff:203.0.113.0"`, "ip", "IPv4 or IPv6")
	f(`"203.0.113.0"`, `"203.0.113.000"`, "ip", "IPv4 or IPv6")
	f(`"203.0.113.0"`, `"example.com"`, "ip", "IPv4 or IPv6")
	f(`"bot":false,`, ``, "bot", "missing")
	f(`"bot":false`, `"bot":0`, "bot", "true or false")
	f(`,"repeat":false`, ``, "repeat", "missing")
	f(`"partner_id":"42",`, ``, "partner_id", "missing")
	f(`"link_id":"7",`, ``, "link_id", "missing")
	f(`"at":"2026-11-25T10:00:00.5Z"`, `"at":"2026-13-25T10:00:00Z"`, "at", "RFC 3339")
	f(`"bot":false`, `"bot":false,"country":"DE"`, "country", "unknown field")
}

func TestDecodeCommissionStoreCreditDLQErrors(t *testing.T) {
	cm := func(old, new, field, msg string) {
		t.Helper()
		_, err := DecodeCommission([]byte(replace(t, validCommissionJSON, old, new)))
		assertFieldError(t, err, field, msg)
	}
	cm(`"state":"pending"`, `"state":"paid"`, "state", "unknown commission state")
	cm(`"amount":"28.98"`, `"amount":"28.985"`, "amount", "more decimals")
	cm(`"base":"289.80"`, `"base":"-1"`, "base", "negative")
	cm(`"019ab9f0-7c1e-7cc2-8f3e-0123456789ab"`, `"evt-1"`, "event_id", "UUID")
	cm(`"line_id":"l1",`, ``, "line_id", "missing")
	cm(`"commission_id":"cm-1"`, `"commission_id":"cm-1","commission_id":"cm-2"`, "commission_id", "duplicate")
	if c, err := DecodeCommission([]byte(replace(t, validCommissionJSON, `"28.98"`, `"-28.98"`))); err != nil || c.AmountMinor != -2898 {
		t.Fatalf("negative commission amount = %+v, %v", c, err)
	}

	sc := func(old, new, field, msg string) {
		t.Helper()
		_, err := DecodeStoreCredit([]byte(replace(t, validStoreCreditJSON, old, new)))
		assertFieldError(t, err, field, msg)
	}
	sc(`"amount":"1500"`, `"amount":"0"`, "amount", "positive")
	sc(`"amount":"1500"`, `"amount":"15.50"`, "amount", "JPY allows (0)")
	sc(`"customer_id":"c-1",`, ``, "customer_id", "missing")
	sc(`"currency":"JPY"`, `"currency":"XAU"`, "currency", "unknown currency")

	dl := func(old, new, field, msg string) {
		t.Helper()
		_, err := DecodeDLQRecord([]byte(replace(t, validDLQJSON, old, new)))
		assertFieldError(t, err, field, msg)
	}
	dl(`"payload":"eyJ2IjoxfQ=="`, `"payload":"eyJ2IjoxfQ"`, "payload", "base64")
	dl(`"topic":"aff.orders"`, `"topic":"aff orders"`, "topic", "Kafka topic")
	dl(`"partition":3`, `"partition":-1`, "partition", "out of range")
	dl(`"partition":3`, `"partition":2147483648`, "partition", "out of range")
	dl(`"offset":1234`, `"offset":-5`, "offset", "negative")
	dl(`"reason":"lines[0].quantity: must be positive",`, ``, "reason", "missing")
}

// TestStoreCreditJPYZeros documents the rule that zeros beyond the exponent
// are accepted.
func TestStoreCreditJPYZeros(t *testing.T) {
	s, err := DecodeStoreCredit([]byte(strings.Replace(validStoreCreditJSON, `"1500"`, `"1500.00"`, 1)))
	if err != nil || s.AmountMinor != 1500 {
		t.Fatalf("DecodeStoreCredit(1500.00 JPY) = %+v, %v", s, err)
	}
}

func TestLexerDetails(t *testing.T) {
	// Escaped keys are unescaped before matching; \u escapes in values,
	// surrogate pairs (lone surrogates: TestLoneSurrogateRefused).
	in := `{"\u0076":1,"event_id":"e\u00e9\ud83d\ude00\uDBFF\uDFFFx\/\"\\\b\f\n\r\t","at":"2026-11-25T10:00:00Z","device_token":"dt","customer_id":"c"}`
	if _, err := DecodeIdentity([]byte(in)); err == nil {
		t.Fatalf("control characters in event_id accepted")
	}
	var want struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	l := lexer{data: []byte(`"e\u00e9\ud83d\ude00\uDBFF\uDFFFx\/\"\\\b\f\n\r\t"`)}
	got, err := l.str()
	if err != nil || got != want.EventID {
		t.Fatalf("lexer.str = %q, %v; encoding/json says %q", got, err, want.EventID)
	}
	// Whitespace everywhere is fine.
	ws := " {\n\t\"v\" : 1 ,\r\n \"event_id\":\"e\", \"at\":\"2026-11-25T10:00:00Z\",\"device_token\":\"dt\",\"customer_id\":\"c\" } \n"
	if _, err := DecodeIdentity([]byte(ws)); err != nil {
		t.Fatalf("DecodeIdentity with whitespace: %v", err)
	}
}

func TestDecodeNDJSON(t *testing.T) {
	id := func(n string) string {
		return `{"v":1,"event_id":"e` + n + `","at":"2026-11-25T10:00:00Z","device_token":"dt","customer_id":"c"}`
	}
	ok := func(body string, maxEvents, want int) {
		t.Helper()
		got, err := DecodeNDJSON([]byte(body), maxEvents, DecodeIdentity)
		if err != nil || len(got) != want {
			t.Fatalf("DecodeNDJSON(%q) = %d events, %v; want %d", body, len(got), err, want)
		}
	}
	bad := func(body string, maxEvents, line int, field, msg string) {
		t.Helper()
		_, err := DecodeNDJSON([]byte(body), maxEvents, DecodeIdentity)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Line != line || fe.Field != field || !strings.Contains(fe.Msg, msg) {
			t.Fatalf("DecodeNDJSON(%q) error %v (%+v), want line %d field %q msg %q", body, err, fe, line, field, msg)
		}
	}
	ok(id("1"), 10, 1)                                                                                                                                  // one event, no newline
	ok(id("1")+"\n", 10, 1)                                                                                                                             // trailing newline
	ok(id("1")+"\r\n"+id("2")+"\r\n", 10, 2)                                                                                                            // CRLF
	ok(id("1")+"\n\n"+id("2"), 10, 2)                                                                                                                   // blank lines ignored
	ok("{\n  \"v\": 1,\n  \"event_id\": \"e\",\n  \"at\": \"2026-11-25T10:00:00Z\",\n  \"device_token\": \"dt\",\n  \"customer_id\": \"c\"\n}\n", 1, 1) // pretty-printed single event
	bad("", 10, 0, "", "empty body")
	bad(" \n\r\n", 10, 0, "", "empty body")
	bad(id("1")+"\n"+id("2")+"\n"+id("3"), 2, 3, "", "more than 2 events")
	bad(id("1")+"\n\n"+`{"v":1}`, 10, 3, "event_id", "missing") // line numbers count blank lines
	bad(id("1")+"\n"+id("2")+"\n{", 10, 3, "", "invalid JSON")
	bad(strings.Replace(id("1"), `"v":1`, `"v":7`, 1), 10, 1, "v", "unsupported")
	_, err := DecodeNDJSON([]byte(id("1")+"\n"+`{"v":1}`), 10, DecodeIdentity)
	if err == nil || err.Error() != "line 2: event_id: missing" {
		t.Fatalf("Error() = %v, want %q", err, "line 2: event_id: missing")
	}
}

func TestNewID(t *testing.T) {
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.String() != id || checkUUID("id", id, 7) != nil {
			t.Fatalf("NewID() = %q (version %d, %v)", id, u.Version(), err)
		}
		if id <= prev { // UUIDv7 from one process sort by creation
			t.Fatalf("NewID() = %q after %q: not increasing", id, prev)
		}
		prev = id
	}
}

// TestNewV7At: the id carries the given time (its millisecond, as
// google/uuid reads it back) and ids still increase when the times go back.
func TestNewV7At(t *testing.T) {
	base := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	prev := ""
	for i, at := range []time.Time{base, base.Add(5 * time.Millisecond), base.Add(2 * time.Millisecond), base.Add(time.Second)} {
		id := string(AppendNewV7At(nil, at))
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 {
			t.Fatalf("AppendNewV7At = %q: %v", id, err)
		}
		if id <= prev {
			t.Fatalf("id %d %q after %q: not increasing", i, id, prev)
		}
		prev = id
		sec, nsec := u.Time().UnixTime()
		got := time.Unix(sec, nsec)
		if i != 2 && !got.Equal(at) {
			t.Fatalf("id %d carries %v, want %v", i, got, at)
		}
		if i == 2 && got.Before(base.Add(5*time.Millisecond)) { // bumped past the later id
			t.Fatalf("id %d carries %v, before the previous id's time", i, got)
		}
	}
}

// TestNewV7RandomBits: the 62 random bits come from a pool refilled every
// 64 ids; across several refills no two ids share them, and every bit
// position takes both values.
func TestNewV7RandomBits(t *testing.T) {
	at := time.Now()
	seen := make(map[string]bool)
	var or, and uint64 = 0, ^uint64(0)
	for range 1000 {
		id := AppendNewV7At(nil, at)
		tail := string(id[19:23]) + string(id[24:]) // var_b: the last 16 hex digits
		if seen[tail] {
			t.Fatalf("random bits %s repeated (id %s)", tail, id)
		}
		seen[tail] = true
		v, err := strconv.ParseUint(tail, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		or, and = or|v, and&v
	}
	if want := uint64(0x3fffffffffffffff); or&want != want || and&want != 0 {
		t.Fatalf("random bits: some position never varies (or %x, and %x)", or, and)
	}
}

// TestAppendTime: appendTime writes what RFC3339Nano does, whatever second
// it formatted before (its cache), including fractions with trailing
// zeros, whole seconds, times before 1970 and years past 9999.
func TestAppendTime(t *testing.T) {
	base := time.Date(2026, 12, 1, 4, 53, 42, 0, time.UTC)
	times := []time.Time{
		base, base.Add(1), base.Add(120 * time.Microsecond), base.Add(999999999),
		base.Add(time.Second), base, base.Add(-time.Nanosecond),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 7, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 5_000, time.FixedZone("x", 3*3600+1800)),
	}
	for _, at := range times {
		want := `"` + at.UTC().Format(time.RFC3339Nano) + `"`
		if got := string(appendTime(nil, at)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", at, got, want)
		}
	}
	// An earlier second (a shop's order time among clicks) neither
	// allocates nor evicts the latest one.
	latest := lastSecond.Load()
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(10, func() { buf = appendTime(buf[:0], base.Add(-48*time.Hour)) }); n != 0 {
		t.Errorf("appendTime of an earlier second allocates %v times", n)
	}
	if lastSecond.Load() != latest {
		t.Errorf("an earlier second replaced the cached one")
	}
}

func TestAnonymizeIP(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := AnonymizeIP(netip.MustParseAddr(in)); got.String() != want {
			t.Fatalf("AnonymizeIP(%s) = %s, want %s", in, got, want)
		}
	}
	f("203.0.113.77", "203.0.113.0")
	f("::ffff:203.0.113.77", "203.0.113.0") // mapped IPv4 counts as IPv4
	f("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::")
	f("fe80::1%eth0", "fe80::")
	if AnonymizeIP(netip.Addr{}).IsValid() {
		t.Fatalf("AnonymizeIP(zero) is valid")
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "bad\xffutf8\xc3", "é😀",
		"\u2028\u2029", "<script>&", strings.Repeat("x", 100)} {
		b := appendString(nil, s)
		var got, want string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: invalid JSON: %v", s, b, err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json to %q", s, got, want)
		}
	}
}

func TestAppendClickAllocs(t *testing.T) {
	c := sampleClick()
	buf := make([]byte, 0, 2048)
	if raceEnabled {
		return // see raceEnabled
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendClick(buf[:0], &c) }); n != 0 {
		t.Fatalf("AppendClick allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendNewV7(buf[:0]) }); n != 0 {
		t.Fatalf("AppendNewV7 allocates %v times per call", n)
	}
}

// TestDecodeClickOwnedAliases: the owned decoder's strings point into the
// buffer it was given (no copy), the copying decoder's do not.
func TestDecodeClickOwnedAliases(t *testing.T) {
	c := sampleClick()
	data := AppendClick(nil, &c)
	inside := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		return p >= lo && p < lo+uintptr(len(data))
	}
	owned, err := DecodeClickOwned(data)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := DecodeClick(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(owned, copied) {
		t.Fatalf("owned %+v != copied %+v", owned, copied)
	}
	if !inside(owned.UserAgent) || !inside(owned.ClickID) {
		t.Fatal("DecodeClickOwned copied the strings")
	}
	if inside(copied.UserAgent) {
		t.Fatal("DecodeClick aliased the caller's buffer")
	}
}

// TestPlainURL: the parse-free path takes the common targets and leaves
// every unusual one to url.Parse, so checkURL decides as before.
func TestPlainURL(t *testing.T) {
	for _, c := range []struct {
		url          string
		plain, valid bool
	}{
		{"https://shop.example/products/blue-shirt?size=m", true, true},
		{"http://a", true, true},
		{"https://shop.example#top", true, true},
		{"https://shop.example:8443/p", false, true},    // port: url.Parse
		{"https://user@shop.example/p", false, true},    // userinfo: url.Parse
		{"https://shop.example/p%20q", false, true},     // escape: url.Parse
		{"HTTPS://SHOP.EXAMPLE/", false, true},          // upper-case scheme: url.Parse
		{"https://shop.example/caf\u00e9", false, true}, // non-ASCII: url.Parse
		{"https://[2001:db8::1]/p", false, true},        // IPv6 literal: url.Parse
		{"https://shop.example/a b", false, true},       // space: url.Parse accepts it
		{"https://shop.example/%zz", false, false},      // bad escape
		{"https:///p", false, false},                    // no host
		{"ftp://shop.example/", false, false},           // scheme
		{"https://shop.example/\x7f", false, false},     // control
		{"javascript://shop.example/%0Aalert(1)", false, false},
	} {
		if got := plainURL(c.url); got != c.plain {
			t.Errorf("plainURL(%q) = %v, want %v", c.url, got, c.plain)
		}
		if err := checkURL("target", c.url); (err == nil) != c.valid {
			t.Errorf("checkURL(%q) = %v, want valid %v", c.url, err, c.valid)
		}
	}
}

// TestPlainWords checks the word-at-a-time scan against a byte-by-byte
// answer: every byte value at every position of a 24-byte string.
func TestPlainWords(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	want := func(b []byte) int {
		n := 0
		for len(b)-n >= 8 {
			for _, c := range b[n : n+8] {
				if !plain(c) {
					return n
				}
			}
			n += 8
		}
		return n
	}
	b := []byte("abcdefghijklmnopqrstuvwx")
	for pos := range b {
		for c := range 256 {
			s := append([]byte(nil), b...)
			s[pos] = byte(c)
			for _, cut := range []int{len(s), len(s) - 3} {
				if got, want := plainWords(s[:cut]), want(s[:cut]); got != want {
					t.Fatalf("plainWords(%q) = %d, want %d", s[:cut], got, want)
				}
			}
		}
	}
}
