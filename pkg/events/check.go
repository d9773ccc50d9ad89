package events

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openaff/affiliate/pkg/money"
)

// Bounds on every string field, in bytes.
const (
	// MaxIDLen bounds ids: event, order, line, product, category,
	// customer, partner, link, commission and request ids, device tokens.
	MaxIDLen = 128
	// MaxURLLen bounds a click's target and referer.
	MaxURLLen = 2048
	// MaxUserAgentLen bounds a click's user agent.
	MaxUserAgentLen = 512
	// MaxEmailLen bounds an identity's email (RFC 5321's path limit).
	MaxEmailLen = 254
	// MaxReasonLen bounds a DLQ record's reason.
	MaxReasonLen = 1024
	// MaxTopicLen bounds a DLQ record's topic (Kafka's own limit is 249).
	MaxTopicLen = 249
)

// Event times must lie in [minTime, maxTime): wider than any real event,
// narrow enough for ClickHouse's DateTime (1970–2105).
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

func missing(field string) error { return fieldErr(field, "missing") }

// CheckOptionalID reports whether s may be sent as an optional id field of
// an event (a product or category id of a click, say): empty, or what
// checkID accepts. The error is a *FieldError naming field.
func CheckOptionalID(field, s string) error { return checkID(field, s, false) }

// checkID checks an opaque id: 1..MaxIDLen bytes of UTF-8 without control
// characters, with at least one character that is not blank (isBlank): an
// id of spaces only is a shop's bug, not an id. An empty optional id passes.
// The schemas' $defs/id pattern says the same (TestSchemaAgreesWithDecoder).
func checkID(field, s string, required bool) error { return checkIDAs(true, field, s, required) }

// checkIDAs is checkID, or without the blank check when not strict: the
// lenient decoders (DecodeOrder, DecodeIdentity) read ids of spaces only,
// which the releases before accepted, so that stored events stay readable.
func checkIDAs(strict bool, field, s string, required bool) error {
	if s == "" {
		if required {
			return missing(field)
		}
		return nil
	}
	if len(s) > MaxIDLen {
		return fieldErr(field, "longer than "+strconv.Itoa(MaxIDLen)+" bytes")
	}
	blank := true
	for _, r := range s {
		if isControl(r) {
			return fieldErr(field, "contains a control character")
		}
		blank = blank && isBlank(r)
	}
	if blank && strict {
		return fieldErr(field, "holds only spaces")
	}
	return nil
}

// isControl reports a C0 or C1 control character or DEL (U+0000–U+001F,
// U+007F–U+009F).
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// isBlank reports a space character that is not a control character:
// ECMAScript's \s (WhiteSpace and LineTerminator, which JSON Schema
// validators use for patterns) less its control characters. It is spelled
// out rather than left to unicode.IsSpace or a regexp's \s, which differ
// between Go (RE2's \s is ASCII only), ECMAScript and Unicode versions; the
// schemas list the same characters.
func isBlank(r rune) bool {
	switch r {
	case ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// checkToken checks a device token: 1..MaxIDLen printable ASCII bytes
// (what the tracker's cookie holds), no spaces.
func checkToken(field, s string, required bool) error {
	if s == "" {
		if required {
			return missing(field)
		}
		return nil
	}
	if len(s) > MaxIDLen {
		return fieldErr(field, "longer than "+strconv.Itoa(MaxIDLen)+" bytes")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return fieldErr(field, "must be printable ASCII without spaces")
		}
	}
	return nil
}

// checkUUID checks a UUID in canonical lower-case 8-4-4-4-12 form; version 0
// accepts any version.
func checkUUID(field, s string, version int) error {
	if s == "" {
		return missing(field)
	}
	if !canonicalUUID(s) {
		return fieldErr(field, "must be a UUID in lower-case 8-4-4-4-12 form")
	}
	if version != 0 && unhex(s[14]) != version {
		return fieldErr(field, "must be a version "+strconv.Itoa(version)+" UUID")
	}
	return nil
}

// canonicalUUID reports whether s is a UUID in lower-case 8-4-4-4-12 form:
// what uuid.Parse accepts at length 36 and strings.ToLower leaves alone
// (FuzzCanonicalUUID compares the two), in one pass.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// maxTimeLen bounds the text of a time (the schemas' maxLength).
const maxTimeLen = 40

// parseTime parses an RFC 3339 time and normalises it to UTC.
func parseTime(field, s string) (time.Time, error) { return parseTimeAs(true, field, s) }

// parseTimeAs is parseTime, or when not strict also what time.Parse's
// RFC3339Nano reads (a comma before the fraction, an offset of 24 h or
// more), which the releases before accepted: the lenient decoders keep
// stored events readable.
func parseTimeAs(strict bool, field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, missing(field)
	}
	t, ok := parseRFC3339(s)
	if !ok && !strict && len(s) <= maxTimeLen {
		if pt, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t, ok = pt.UTC(), true
		}
	}
	if !ok {
		return time.Time{}, fieldErr(field, `must be an RFC 3339 time such as "2026-11-25T10:00:00Z"`)
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return time.Time{}, fieldErr(field, "must lie between 2000 and 2100")
	}
	return t, nil
}

// parseRFC3339 parses an RFC 3339 date-time (§5.6), as JSON Schema's
// date-time format reads it, in one pass: "2006-01-02T15:04:05", an
// optional fraction of one or more digits after a '.', then "Z" or an
// offset ±hh:mm with hh 00–23 and mm 00–59; "T" and "Z" may be lower case.
// It refuses what time.Parse accepts beyond RFC 3339 (a ',' before the
// fraction, offsets of 24 hours or more) and, unlike RFC 3339, a leap
// second (:60), which time.Time cannot hold. Fraction digits past the
// nanosecond are dropped, as time.Parse drops them (FuzzParseRFC3339
// compares the two, and the schema validator).
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < 20 || len(s) > maxTimeLen || s[4] != '-' || s[7] != '-' || s[10] != 'T' && s[10] != 't' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 28 && day > daysIn(time.Month(month), year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 9 {
				nsec = nsec*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		for i := n; i <= 9; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	var offset int
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(len(s)-5, 2), num(len(s)-2, 2)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// daysIn is the number of days of month in year.
func daysIn(month time.Month, year int) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseAmount parses a decimal amount of cur; "" is absent (0).
func parseAmount(field string, cur money.Currency, s string, signed bool) (int64, error) {
	var v int64
	var err error
	if signed {
		v, err = money.ParseSigned(cur, s)
	} else {
		v, err = money.Parse(cur, s)
	}
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, money.ErrTooPrecise):
		return 0, fieldErr(field, "has more decimals than "+cur.Code()+" allows ("+strconv.Itoa(cur.Exponent())+")")
	case errors.Is(err, money.ErrNegative):
		return 0, fieldErr(field, "must not be negative")
	case errors.Is(err, money.ErrOverflow):
		return 0, fieldErr(field, "amount out of range")
	default:
		return 0, fieldErr(field, `must be a decimal string such as "149.90" (digits, optional '.', no sign, exponent or separators)`)
	}
}

// parseCurrency parses a currency code field.
func parseCurrency(field, s string) (money.Currency, error) {
	if s == "" {
		return money.Currency{}, missing(field)
	}
	c, err := money.ParseCurrency(s)
	if err != nil {
		return money.Currency{}, fieldErr(field, "unknown currency (want an ISO 4217 code such as \"EUR\")")
	}
	return c, nil
}

// checkURL checks an absolute http or https URL of at most MaxURLLen bytes.
func checkURL(field, s string) error {
	if s == "" {
		return missing(field)
	}
	if len(s) > MaxURLLen {
		return fieldErr(field, "longer than "+strconv.Itoa(MaxURLLen)+" bytes")
	}
	if !plainURL(s) && !parsedURL(s) {
		return fieldErr(field, "must be an absolute http or https URL")
	}
	return nil
}

// parsedURL is checkURL's judgement by url.Parse: an absolute http or https
// URL with a host, valid UTF-8 without control characters.
func parsedURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && utf8.ValidString(s) && !hasControl(s)
}

// plainURL reports, without parsing, that s is an absolute http or https
// URL checkURL accepts: "http://" or "https://", a host of ASCII letters,
// digits, '.' and '-', then nothing or a '/', '?' or '#' and printable
// ASCII other than '%'. It says no to everything else (ports, userinfo,
// IPv6 literals, escapes, upper-case schemes, non-ASCII), which parsedURL
// then judges. Every click carries a target, and url.Parse was a sixth of
// decoding one (it allocates the URL); FuzzPlainURL checks that parsedURL
// accepts whatever this accepts.
func plainURL(s string) bool {
	var rest string
	switch {
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	default:
		return false
	}
	host := 0
	for host < len(rest) && isPlainHostByte(rest[host]) {
		host++
	}
	if host == 0 {
		return false
	}
	if host == len(rest) {
		return true
	}
	if c := rest[host]; c != '/' && c != '?' && c != '#' {
		return false
	}
	for i := host; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c >= 0x7f || c == '%' {
			return false
		}
	}
	return true
}

func isPlainHostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// checkText checks free text (referer, user agent) for length only; the
// lexer already rejected invalid UTF-8.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "longer than "+strconv.Itoa(max)+" bytes")
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// parseAnonIP parses an anonymised IP address: empty (unknown, the zero
// Addr), an IPv4 address with the last octet zero (/24) or an IPv6 address
// with all but the first 48 bits zero, in canonical form. A full address is
// refused so that it never reaches storage.
func parseAnonIP(field, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, fieldErr(field, "must be an IPv4 or IPv6 address")
	}
	var canonical [64]byte // compared without allocating a string
	if AnonymizeIP(a) != a || string(a.AppendTo(canonical[:0])) != s {
		return netip.Addr{}, fieldErr(field, "must be anonymised (IPv4 /24, IPv6 /48) in canonical form")
	}
	return a, nil
}

// AnonymizeIP returns the anonymised form the click event requires: the /24
// network address of an IPv4 address, the /48 of an IPv6 address (IPv4-mapped
// IPv6 addresses are treated as IPv4, zones dropped), or the zero Addr for
// the zero Addr.
func AnonymizeIP(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	bitsKept := 48
	if a.Is4() {
		bitsKept = 24
	}
	p, err := a.Prefix(bitsKept)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// checkEmail checks an email: at most MaxEmailLen bytes, no control or
// blank characters, an '@' (the last one) with something on both sides.
// Empty passes (absent); the decoder refuses a present "" before this.
func checkEmail(field, s string) error {
	if s == "" {
		return nil
	}
	at := strings.LastIndexByte(s, '@')
	ok := len(s) <= MaxEmailLen && at > 0 && at < len(s)-1
	for _, r := range s {
		ok = ok && !isControl(r) && !isBlank(r)
	}
	if !ok {
		return fieldErr(field, "must be an email address of at most "+strconv.Itoa(MaxEmailLen)+" bytes")
	}
	return nil
}
