package events

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// A \u escape of a lone UTF-16 surrogate is refused with the field it is
// in (encoding/json reads it as U+FFFD, but the settler stores an event's
// bytes as jsonb and Postgres refuses the escape there: the event must go
// to the dlq with a reason instead); a pair is read as its code point.
func TestLoneSurrogateRefused(t *testing.T) {
	bad := func(customerID, field string) {
		t.Helper()
		in := strings.Replace(validIdentityJSON, `"c-1"`, `"`+customerID+`"`, 1)
		_, err := DecodeIdentity([]byte(in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !strings.Contains(fe.Msg, "unpaired UTF-16 surrogate") {
			t.Fatalf("DecodeIdentity(%s) = %v, want an unpaired surrogate error on %q", in, err, field)
		}
	}
	// A high surrogate alone, at the end of the string.
	bad(`\ud800`, "customer_id")
	// A low surrogate alone, with text after it.
	bad(`\udc00x`, "customer_id")
	// A high surrogate followed by text, by another high one, by an
	// escape that is not \u, by a non-surrogate escape.
	bad(`\udbffx`, "customer_id")
	bad(`\ud800\ud800`, "customer_id")
	bad(`\ud800\n`, "customer_id")
	bad(`\ud800\u0041`, "customer_id")
	// Two halves in the wrong order.
	bad(`\udc00\ud800`, "customer_id")
	// Upper-case hex is the same escape.
	bad(`a\uD800`, "customer_id")

	// In an unknown field's value (skipped, not decoded) and in a key, the
	// event is refused all the same: Postgres would refuse its jsonb.
	for _, in := range []string{
		strings.Replace(validIdentityJSON, `"v":1`, `"v":1,"x":["\ud800"]`, 1),
		strings.Replace(validIdentityJSON, `"v":1`, `"v":1,"\udc00":1`, 1),
	} {
		if _, err := DecodeIdentity([]byte(in)); err == nil || !strings.Contains(err.Error(), "unpaired UTF-16 surrogate") {
			t.Fatalf("DecodeIdentity(%s) = %v, want an unpaired surrogate error", in, err)
		}
	}
	// And in an order event.
	in := strings.Replace(validOrderJSON, `"p1"`, `"p\ud83d"`, 1)
	if _, err := DecodeOrder([]byte(in)); err == nil || !strings.HasPrefix(err.Error(), "lines[0].product_id: ") {
		t.Fatalf("DecodeOrder(%s) = %v, want an error on lines[0].product_id", in, err)
	}

	good := func(escaped, want string) {
		t.Helper()
		in := strings.Replace(validIdentityJSON, `"c-1"`, `"`+escaped+`"`, 1)
		e, err := DecodeIdentity([]byte(in))
		if err != nil || e.CustomerID != want {
			t.Fatalf("DecodeIdentity(%s) = %q, %v; want %q", in, e.CustomerID, err, want)
		}
	}
	// Pairs, the lowest and the highest, and a BMP character next to one.
	good(`\ud83d\ude00`, "\U0001F600")
	good(`\uD800\uDC00`, "\U00010000")
	good(`\udbff\udfffx`, "\U0010FFFFx")
	good(`\u00e9\ud83d\ude00\u00e9`, "é\U0001F600é")
	// The characters next to the surrogate range are no surrogates.
	good(`\ud7ff\ue000`, "\ud7ff\ue000")
}

// hasLoneSurrogate reports whether a JSON text holds a \u escape of a
// UTF-16 surrogate that is not part of a high-low pair (the lexer refuses
// those; encoding/json accepts them). A simple scan, independent of the
// lexer: backslash pairs are skipped so "\\ud800" is no escape.
func hasLoneSurrogate(data []byte) bool {
	unit := func(i int) rune { // the code unit of the \u escape at i, or -1
		if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
			return -1
		}
		r, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
		if err != nil {
			return -1
		}
		return rune(r)
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' || i+1 >= len(data) {
			continue
		}
		r := unit(i)
		switch {
		case r < 0:
			i++ // some other escape, \\ included
		case r >= 0xd800 && r <= 0xdbff:
			if r2 := unit(i + 6); r2 < 0xdc00 || r2 > 0xdfff {
				return true
			}
			i += 11
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		default:
			i += 5
		}
	}
	return false
}

func TestHasLoneSurrogate(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := hasLoneSurrogate([]byte(s)); got != want {
			t.Fatalf("hasLoneSurrogate(%q) = %v, want %v", s, got, want)
		}
	}
	f(`"\ud800"`, true)
	f(`"\udc00x"`, true)
	f(`"\ud800\u0041"`, true)
	f(`"\ud83d\ude00"`, false)
	f(`"\\ud800"`, false) // a backslash, then text
	f(`"\\\ud800"`, true)
	f(`"\u00e9\uDBFF\uDFFF"`, false)
	f(`"\u12"`, false)
}
