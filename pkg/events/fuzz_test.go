package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Fuzz properties shared by every decoder: it never panics, every error is a
// *FieldError, it accepts only valid JSON, and what it accepts re-encodes
// to an event that decodes to the same value.

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is %T, want *FieldError", err, err)
	}
}

func seedMutations(f *testing.F, valid string) {
	f.Add([]byte(valid))
	f.Add([]byte(strings.Replace(valid, `"v":1`, `"v":2`, 1)))
	f.Add([]byte(strings.Replace(valid, `"v":1`, `"v":1,"extra":{"a":[1,2,{"b":null}]}`, 1)))
	f.Add([]byte(strings.Replace(valid, `"v":1`, `"v":1,"v":1`, 1)))
	f.Add([]byte(valid[:len(valid)/2]))
	f.Add([]byte(valid + "\n"))
	f.Add([]byte("{}"))
	f.Add([]byte("null"))
	f.Add([]byte(`{"v":1e0}`))
	f.Add([]byte("{\"v\":1,\"event_id\":\"\\ud800\xff\"}"))
}

func FuzzDecodeOrder(f *testing.F) {
	seedMutations(f, validOrderJSON)
	f.Add([]byte(`{"v":1,"event_id":"e","type":"order.refunded","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"KWD","amount":"1.234"}`))
	f.Add([]byte(`{"v":1,"event_id":"e","type":"order.cancelled","order_id":"o","at":"2026-11-25T10:00:00Z","currency":"JPY","lines":[]}`))
	f.Add([]byte(strings.Replace(validOrderJSON, `"quantity":2`, `"quantity":-2`, 1)))
	f.Add([]byte(strings.Replace(validOrderJSON, `"149.90"`, `"149.9e1"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeOrder(data)
		if err != nil {
			checkDecodeErr(t, err)
			if _, serr := DecodeOrderStrict(data); serr == nil {
				t.Fatalf("DecodeOrderStrict accepted %q, which DecodeOrder refuses: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeOrder accepted invalid JSON %q", data)
		}
		for _, l := range o.Lines {
			if l.Quantity <= 0 || l.UnitPriceMinor < 0 || l.DiscountMinor < 0 || l.BaseMinor() < 0 {
				t.Fatalf("DecodeOrder accepted line %+v", l)
			}
		}
		o2, err := DecodeOrder(AppendOrder(nil, &o))
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("re-encoded order = %+v, %v; want %+v", o2, err, o)
		}
		// What a shop may submit reads the same from a topic.
		if s, err := DecodeOrderStrict(data); err == nil && !reflect.DeepEqual(s, o) {
			t.Fatalf("DecodeOrderStrict = %+v, DecodeOrder = %+v", s, o)
		}
	})
}

func FuzzDecodeIdentity(f *testing.F) {
	seedMutations(f, validIdentityJSON)
	f.Add([]byte(`{"v":1,"event_id":"e","at":"2026-11-25T10:00:00.999999999-12:00","device_token":"d","customer_id":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeIdentity(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeIdentity accepted invalid JSON %q", data)
		}
		if e2, err := DecodeIdentity(AppendIdentity(nil, &e)); err != nil || e2 != e {
			t.Fatalf("re-encoded identity = %+v, %v; want %+v", e2, err, e)
		}
	})
}

func FuzzDecodeClick(f *testing.F) {
	seedMutations(f, validClickJSON)
	c := sampleClick()
	f.Add(AppendClick(nil, &c))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeClick(data)
		// The owned decoder decides exactly as the copying one.
		if co, errOwned := DecodeClickOwned(bytes.Clone(data)); !reflect.DeepEqual(c, co) || (err == nil) != (errOwned == nil) ||
			(err != nil && err.Error() != errOwned.Error()) {
			t.Fatalf("DecodeClickOwned = %+v, %v; DecodeClick = %+v, %v", co, errOwned, c, err)
		}
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeClick accepted invalid JSON %q", data)
		}
		if c2, err := DecodeClick(AppendClick(nil, &c)); err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoded click = %+v, %v; want %+v", c2, err, c)
		}
	})
}

func FuzzDecodeCommission(f *testing.F) {
	seedMutations(f, validCommissionJSON)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommission(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if c2, err := DecodeCommission(AppendCommission(nil, &c)); err != nil || c2 != c || !json.Valid(data) {
			t.Fatalf("re-encoded commission = %+v, %v; want %+v", c2, err, c)
		}
	})
}

func FuzzDecodeStoreCredit(f *testing.F) {
	seedMutations(f, validStoreCreditJSON)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStoreCredit(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if s2, err := DecodeStoreCredit(AppendStoreCredit(nil, &s)); err != nil || s2 != s || !json.Valid(data) || s.AmountMinor <= 0 {
			t.Fatalf("re-encoded store credit = %+v, %v; want %+v", s2, err, s)
		}
	})
}

func FuzzDecodeDLQRecord(f *testing.F) {
	seedMutations(f, validDLQJSON)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDLQRecord(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if d2, err := DecodeDLQRecord(AppendDLQRecord(nil, &d)); err != nil || !reflect.DeepEqual(d, d2) || !json.Valid(data) {
			t.Fatalf("re-encoded DLQ record = %+v, %v; want %+v", d2, err, d)
		}
	})
}

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte(validIdentityJSON+"\n"+validIdentityJSON+"\n"), 2)
	f.Add([]byte(validOrderJSON), 1)
	f.Add([]byte(""), 5)
	f.Add([]byte("\n\n{\n}\n"), 5)
	f.Add([]byte(validIdentityJSON+"\r\n\r\n"+`{"v":1}`), 5)
	f.Add([]byte("{\n\"v\": 1\n}"), 1)
	f.Fuzz(func(t *testing.T, body []byte, maxEvents int) {
		if maxEvents < 1 || maxEvents > 100 {
			maxEvents = 1 + (maxEvents%100+100)%100
		}
		lines := bytes.Count(body, []byte("\n")) + 1
		for _, decode := range []func([]byte) (any, error){
			func(b []byte) (any, error) { return DecodeIdentityStrict(b) },
			func(b []byte) (any, error) { return DecodeOrderStrict(b) },
		} {
			got, err := DecodeNDJSON(body, maxEvents, decode)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Line < 0 || fe.Line > lines || got != nil {
					t.Fatalf("DecodeNDJSON error %v (line of %d), events %d", err, lines, len(got))
				}
				continue
			}
			if len(got) == 0 || len(got) > maxEvents {
				t.Fatalf("DecodeNDJSON returned %d events (max %d)", len(got), maxEvents)
			}
		}
	})
}

// FuzzAppendClick checks the hand-written encoder against encoding/json:
// whatever the strings hold (control characters, quotes, invalid UTF-8), the
// output is valid JSON whose strings decode, with encoding/json, to what
// encoding/json's own encoding of the same strings decodes to; and a click
// that is valid round-trips exactly through DecodeClick.
func FuzzAppendClick(f *testing.F) {
	c := sampleClick()
	f.Add(c.DeviceToken, c.PartnerID, c.ProductID, c.Target, c.Referer, c.UserAgent, int64(0), true, false)
	f.Add("dt", "p\"1", "", "https://x.example/\x00", "ref\xff\xfe", "UA\n\t\u2028<>&", int64(1e9+7), false, true)
	f.Add("", "", "", "", "", "", int64(-1), false, false)
	f.Fuzz(func(t *testing.T, device, partner, product, target, referer, ua string, nanos int64, bot, repeat bool) {
		c := sampleClick()
		c.DeviceToken, c.PartnerID, c.ProductID, c.Target, c.Referer, c.UserAgent = device, partner, product, target, referer, ua
		c.At = t0.Add(time.Duration(nanos % int64(1e12)))
		c.Bot, c.Repeat = bot, repeat
		out := AppendClick(nil, &c)
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendClick output is not JSON: %v\n%s", err, out)
		}
		for key, in := range map[string]string{"device_token": device, "partner_id": partner, "target": target, "referer": referer, "user_agent": ua, "product_id": product} {
			ref, _ := json.Marshal(in)
			var want string
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			gotS, _ := got[key].(string)
			if key == "product_id" && in == "" {
				if _, present := got[key]; present {
					t.Fatalf("empty product_id written")
				}
				continue
			}
			if gotS != want {
				t.Fatalf("%s: AppendClick gives %q, encoding/json %q", key, gotS, want)
			}
		}
		if want := c.At.UTC().Format(time.RFC3339Nano); got["at"] != want {
			t.Fatalf("at = %v, want %s", got["at"], want)
		}
		if got["bot"] != bot || got["repeat"] != repeat || got["v"] != float64(1) {
			t.Fatalf("bools/version wrong: %s", out)
		}
		dec, err := DecodeClick(out)
		// Each string on its own: "\xc3" and "\x82" are both invalid, their
		// concatenation is valid.
		allUTF8 := true
		for _, s := range []string{device, partner, product, target, referer, ua} {
			allUTF8 = allUTF8 && utf8.ValidString(s)
		}
		if err == nil && allUTF8 && !reflect.DeepEqual(dec, c) {
			t.Fatalf("DecodeClick(AppendClick(c)) = %+v, want %+v", dec, c)
		}
		if err == nil && dec.IP != netip.MustParseAddr("2001:db8:1::") {
			t.Fatalf("ip = %v", dec.IP)
		}
	})
}

// FuzzLexer compares the lexer with encoding/json on arbitrary input: it
// accepts nothing json.Valid rejects, accepts every valid UTF-8 document of
// modest depth without lone surrogate escapes, and reads strings as
// encoding/json does.
func FuzzLexer(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9\ud83d\ude00",true,null,{}]}`, `"\ud800"`, `[1,]`, `{"a" 1}`, `-0.0E+1`, `01`, `"\x01"`, "\"\xff\"", `[[[[]]]]`,
		// Strings long enough for plainWords, with each kind of special byte past the first word.
		`["abcdefghijklmnop\"qrstuvwxyz0123456789"]`, "\"abcdefghijklmnopq\x1frs\"", "\"abcdefghijklmnop\xc3\xa9qrstuvwx\"", "\"abcdefghijklmnop\xc3qrstuvwx\"", `"abcdefghijklmno\u00e9pqrstuvw"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l := lexer{data: data}
		l.skipWS()
		err := l.skip(0)
		if err == nil {
			err = l.end()
		}
		valid := json.Valid(data)
		if err == nil && !valid {
			t.Fatalf("lexer accepted invalid JSON %q", data)
		}
		shallow := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) < maxSkipDepth
		// A lone surrogate escape is valid JSON that the lexer refuses
		// (TestLoneSurrogateRefused).
		if err != nil && valid && utf8.Valid(data) && shallow && !hasLoneSurrogate(data) {
			t.Fatalf("lexer rejected valid JSON %q: %v", data, err)
		}
		if err == nil && len(bytes.TrimSpace(data)) > 0 && bytes.TrimSpace(data)[0] == '"' {
			l := lexer{data: bytes.TrimSpace(data)}
			s, err := l.str()
			var want string
			if err2 := json.Unmarshal(data, &want); err != nil || err2 != nil || s != want {
				t.Fatalf("lexer.str(%q) = %q, %v; encoding/json %q, %v", data, s, err, want, err2)
			}
		}
	})
}

// FuzzPlainURL: whatever plainURL accepts without parsing, checkURL's slow
// path (parsedURL, by url.Parse) accepts too.
func FuzzPlainURL(f *testing.F) {
	for _, s := range []string{"https://shop.example/p/1?x=y#z", "http://a", "http://a:80/", "https://exa mple.com/",
		"http://a/%zz", "http://[::1]/", "HTTP://A/", "https://a.b/c?d=%41", "http://x#y#z", "https://-/..?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainURL(s) {
			return
		}
		if !parsedURL(s) {
			u, err := url.Parse(s)
			t.Fatalf("plainURL(%q) but parsedURL refuses it (url.Parse = %+v, %v)", s, u, err)
		}
	})
}

// FuzzCanonicalUUID: canonicalUUID and its version digit agree with
// uuid.Parse at length 36 plus a lower-case check, the rule it replaced.
func FuzzCanonicalUUID(f *testing.F) {
	for _, s := range []string{"019ab9f0-7c1e-7cc2-8f3e-0123456789ab", "019AB9F0-7c1e-7cc2-8f3e-0123456789ab", "019ab9f0+7c1e-7cc2-8f3e-0123456789ab",
		"{019ab9f0-7c1e-7cc2-8f3e-0123456789a}", "urn:uuid:019ab9f0-7c1e-7cc2-8f3e-0123", "019ab9f07c1e7cc28f3e0123456789ab", "019ab9f0-7c1e-7cc2-8f3e-0123456789ag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := uuid.Parse(s)
		want := err == nil && len(s) == 36 && strings.ToLower(s) == s
		if got := canonicalUUID(s); got != want {
			t.Fatalf("canonicalUUID(%q) = %v, want %v", s, got, want)
		}
		if want && int(u.Version()) != unhex(s[14]) {
			t.Fatalf("%q: version digit %d, uuid.Parse says %d", s, unhex(s[14]), u.Version())
		}
	})
}

// FuzzParseRFC3339 compares parseRFC3339 with time.Parse and with the JSON
// Schema validator's date-time format. Where parseRFC3339 accepts, both
// accept (time.Parse after upper-casing T and Z, which it does not take in
// lower case) and time.Parse gives the same instant. Where the validator
// accepts, parseRFC3339 accepts too, but for a leap second (documented in
// the schema README).
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123456789Z", "2026-11-25T10:00:00.1Z", "2024-02-29T23:59:59Z",
		"2025-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:00:60Z", "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00.1234567890Z",
		"2026-11-25T10:00:00+01:00", "2026-11-25 10:00:00Z", "2026-13-25T10:00:00Z", "0000-01-01T00:00:00Z", "2026-11-25T10:00:00.-1Z",
		"2026-11-25t10:00:00z", "2026-11-25T10:00:00,5Z", "2026-11-25T10:00:00+24:00", "2026-11-25T10:00:00-23:59", "2026-11-25T10:00:00+01:60",
		"2026-11-25T10:00:00.5-00:00", "2026-11-25T10:00:00+0100", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	schema := dateTimeSchema(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339(s)
		valid := schema.Validate(s) == nil
		if !ok {
			// The validator reads numbers with strconv.Atoi, which takes
			// a sign ("+0" hours): RFC 3339 wants two digits.
			if valid && !strings.Contains(s, ":60") && signless(s) {
				t.Fatalf("parseRFC3339(%q) refuses what the schema's date-time accepts", s)
			}
			return
		}
		if !valid {
			t.Fatalf("parseRFC3339(%q) = %v, the schema's date-time refuses it", s, got)
		}
		upper := []byte(s)
		upper[10] = 'T'
		if c := upper[len(upper)-1]; c == 'z' {
			upper[len(upper)-1] = 'Z'
		}
		want, err := time.Parse(time.RFC3339Nano, string(upper))
		if err != nil {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse refuses it: %v", s, got, err)
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse %v", s, got, want.UTC())
		}
	})
}

// signless reports that s has no sign where RFC 3339 wants digits (in the
// date, the time and an offset's hours and minutes).
func signless(s string) bool {
	offsetSign := len(s) - 6
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		offsetSign = -1
	}
	for i, c := range []byte(s) {
		if (c == '+' || c == '-') && i != 4 && i != 7 && i != offsetSign {
			return false
		}
	}
	return true
}

// dateTimeSchema compiles the schemas' $defs/time ({"type":"string",
// "format":"date-time","maxLength":40}) with format assertions on, as
// TestSchemaExamples does.
func dateTimeSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("t.json", map[string]any{"type": "string", "format": "date-time", "maxLength": maxTimeLen}); err != nil {
		tb.Fatal(err)
	}
	sch, err := c.Compile("t.json")
	if err != nil {
		tb.Fatal(err)
	}
	return sch
}
