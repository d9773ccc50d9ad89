package events

import (
	"encoding/base64"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/openaff/affiliate/pkg/money"
)

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes appendString copies as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Like encoding/json it escapes
// '"', '\\', control characters, U+2028 and U+2029, and replaces invalid
// UTF-8 with U+FFFD; unlike it, it leaves '<', '>' and '&' alone (events are
// not embedded in HTML). It does not allocate when dst has room.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i = skipPlain(s, i)
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// skipPlain returns the index of the first byte from i on that is not
// printable ASCII other than '"' and '\\' (the bytes appendString copies as
// they are), or a later index than i only in steps of 8: it tests 8 bytes as
// one word (SWAR) and leaves the last few and any word with a byte to
// escape to the byte loop.
func skipPlain(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// With no byte at or above 0x80 (x's high bits), x - 0x20 in every
		// byte borrows iff a byte is below 0x20, and (v - ones) &^ v has a
		// high bit iff v has a zero byte, i.e. x a '"' or a '\\'.
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		if ((x-ones*0x20)|x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0 {
			break
		}
	}
	return i
}

// appendTime appends t in UTC as an RFC 3339 JSON string, as
// t.UTC().AppendFormat(time.RFC3339Nano) writes it. The date and time up to
// the second are formatted once per second (clicks come thousands a second
// and formatting the date took a tenth of encoding one); the fraction, with
// its trailing zeros trimmed as RFC3339Nano does, per call.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	sec := t.Unix()
	if p := lastSecond.Load(); p != nil && p.sec == sec {
		dst = append(dst, p.text...)
	} else {
		start := len(dst)
		dst = time.Unix(sec, 0).UTC().AppendFormat(dst, "2006-01-02T15:04:05")
		// Only a later second replaces the cached one: events of other
		// times (a shop's orders, past commissions) do not evict the
		// clicks' current second, and cost no allocation.
		if p == nil || sec > p.sec {
			n := &secondText{sec: sec}
			n.text = append(n.buf[:0], dst[start:]...)
			lastSecond.CompareAndSwap(p, n)
		}
	}
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z', '"')
}

// secondText is one second's "2006-01-02T15:04:05" text, in UTC.
type secondText struct {
	sec  int64
	text []byte // buf[:n]; years beyond 9999 are longer than 19 bytes
	buf  [24]byte
}

// lastSecond is the latest second appendTime formatted (one allocation per
// new second, shared by every goroutine).
var lastSecond atomic.Pointer[secondText]

// appendAmount appends minor units of cur as a decimal JSON string.
func appendAmount(dst []byte, cur money.Currency, minor int64) []byte {
	dst = append(dst, '"')
	dst = money.AppendFormat(dst, cur, minor)
	return append(dst, '"')
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// appendBase64 appends b as a base64 (standard, padded) JSON string.
func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// optString appends ,"key":"s" unless s is empty. key includes the comma,
// quotes and colon.
func optString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, key...), s)
}
