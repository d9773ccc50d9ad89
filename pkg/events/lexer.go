package events

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// lexer is a small strict JSON reader over a byte slice. Our own rather
// than encoding/json because the decoders must: match keys exactly
// (encoding/json matches case-insensitively), reject duplicate keys
// (encoding/json silently keeps the last one: "unit_price" twice would be an
// ambiguity about money), name the exact field of any error
// ("lines[2].quantity"), reject invalid UTF-8 instead of rewriting it, and
// decode a click without reflection. It is fuzzed against json.Valid.
type lexer struct {
	data    []byte
	src     string // data as a string, when set: unescaped strings are substrings of it
	pos     int
	scratch []byte // unescaped keys
}

// maxSkipDepth bounds the nesting of an unknown field's value that the lexer
// skips before rejecting the event.
const maxSkipDepth = 32

// syntaxError is a JSON syntax error at a byte offset.
type syntaxError struct {
	msg string
	pos int
}

func (e *syntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.pos) + ": " + e.msg
}

func (l *lexer) errorf(msg string) error { return &syntaxError{msg: msg, pos: l.pos} }

func (l *lexer) skipWS() {
	for l.pos < len(l.data) {
		switch l.data[l.pos] {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return
		}
	}
}

func (l *lexer) consume(c byte) bool {
	if l.pos < len(l.data) && l.data[l.pos] == c {
		l.pos++
		return true
	}
	return false
}

// end checks that only whitespace follows the event.
func (l *lexer) end() error {
	l.skipWS()
	if l.pos != len(l.data) {
		return l.errorf("unexpected data after the event")
	}
	return nil
}

// object reads a JSON object, calling fn for each key with the lexer
// positioned at the value; fn must consume the value. The key slice is only
// valid during the call.
func (l *lexer) object(fn func(key []byte) error) error {
	l.skipWS()
	if !l.consume('{') {
		return l.errorf("expected an object")
	}
	l.skipWS()
	if l.consume('}') {
		return nil
	}
	for {
		l.skipWS()
		key, err := l.key()
		if err != nil {
			return err
		}
		l.skipWS()
		if !l.consume(':') {
			return l.errorf("expected ':' after a key")
		}
		l.skipWS()
		if err := fn(key); err != nil {
			return err
		}
		l.skipWS()
		if l.consume(',') {
			continue
		}
		if l.consume('}') {
			return nil
		}
		return l.errorf("expected ',' or '}'")
	}
}

// array reads a JSON array, calling fn for each element with the lexer
// positioned at it; fn must consume the element.
func (l *lexer) array(fn func(i int) error) error {
	l.skipWS()
	if !l.consume('[') {
		return l.errorf("expected an array")
	}
	l.skipWS()
	if l.consume(']') {
		return nil
	}
	for i := 0; ; i++ {
		l.skipWS()
		if err := fn(i); err != nil {
			return err
		}
		l.skipWS()
		if l.consume(',') {
			continue
		}
		if l.consume(']') {
			return nil
		}
		return l.errorf("expected ',' or ']'")
	}
}

// null consumes a JSON null if one is next and reports whether it did.
func (l *lexer) null() bool {
	if len(l.data)-l.pos >= 4 && string(l.data[l.pos:l.pos+4]) == "null" {
		l.pos += 4
		return true
	}
	return false
}

// bool reads true or false.
func (l *lexer) bool() (bool, error) {
	switch {
	case len(l.data)-l.pos >= 4 && string(l.data[l.pos:l.pos+4]) == "true":
		l.pos += 4
		return true, nil
	case len(l.data)-l.pos >= 5 && string(l.data[l.pos:l.pos+5]) == "false":
		l.pos += 5
		return false, nil
	}
	return false, l.errorf("expected true or false")
}

// isString reports whether a string is next.
func (l *lexer) isString() bool { return l.pos < len(l.data) && l.data[l.pos] == '"' }

// number reads a JSON number and returns its text.
func (l *lexer) number() ([]byte, error) {
	start := l.pos
	l.consume('-')
	switch {
	case l.consume('0'):
	case l.pos < len(l.data) && l.data[l.pos] >= '1' && l.data[l.pos] <= '9':
		l.digits()
	default:
		return nil, l.errorf("expected a number")
	}
	if l.consume('.') {
		if l.digits() == 0 {
			return nil, l.errorf("expected digits after '.'")
		}
	}
	if l.consume('e') || l.consume('E') {
		if !l.consume('+') {
			l.consume('-')
		}
		if l.digits() == 0 {
			return nil, l.errorf("expected digits in the exponent")
		}
	}
	return l.data[start:l.pos], nil
}

func (l *lexer) digits() int {
	n := 0
	for l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '9' {
		l.pos++
		n++
	}
	return n
}

// key reads an object key. The result aliases the input or l.scratch.
func (l *lexer) key() ([]byte, error) {
	raw, escaped, err := l.scanString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return raw, nil
	}
	l.scratch = unescape(l.scratch[:0], raw)
	return l.scratch, nil
}

// str reads a string value and returns a copy the caller owns. With src
// set, a string without escapes is a substring of src (no allocation; it
// keeps src alive).
func (l *lexer) str() (string, error) {
	raw, escaped, err := l.scanString()
	if err != nil {
		return "", err
	}
	if !escaped {
		if l.src != "" {
			end := l.pos - 1 // the closing quote
			return l.src[end-len(raw) : end], nil
		}
		return string(raw), nil
	}
	return string(unescape(make([]byte, 0, len(raw)), raw)), nil
}

// scanString checks the string at the current position and returns its raw
// contents (between the quotes) and whether it holds escapes. It rejects raw
// control characters, bad escapes, unpaired surrogate escapes and invalid
// UTF-8.
func (l *lexer) scanString() (raw []byte, escaped bool, err error) {
	if !l.consume('"') {
		return nil, false, l.errorf("expected a string")
	}
	start := l.pos
	for l.pos < len(l.data) {
		l.pos += plainWords(l.data[l.pos:])
		if l.pos >= len(l.data) {
			break
		}
		c := l.data[l.pos]
		switch {
		case c == '"':
			raw = l.data[start:l.pos]
			l.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if l.pos+1 >= len(l.data) {
				return nil, false, l.errorf("unterminated escape")
			}
			switch l.data[l.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				l.pos += 2
			case 'u':
				at := l.pos
				r, err := l.hexEscape()
				if err != nil {
					return nil, false, err
				}
				if utf16.IsSurrogate(r) {
					if err := l.lowSurrogate(r, at); err != nil {
						return nil, false, err
					}
				}
			default:
				return nil, false, l.errorf("bad escape")
			}
		case c < 0x20:
			return nil, false, l.errorf("control character in a string")
		case c < utf8.RuneSelf:
			l.pos++
		default:
			r, size := utf8.DecodeRune(l.data[l.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, l.errorf("invalid UTF-8 in a string")
			}
			l.pos += size
		}
	}
	return nil, false, l.errorf("unterminated string")
}

// hexEscape reads the \u escape at the current position and returns its
// UTF-16 code unit.
func (l *lexer) hexEscape() (rune, error) {
	if l.pos+6 > len(l.data) {
		return 0, l.errorf("short \\u escape")
	}
	for _, h := range l.data[l.pos+2 : l.pos+6] {
		if unhex(h) < 0 {
			return 0, l.errorf("bad \\u escape")
		}
	}
	r := hex4(l.data[l.pos+2:])
	l.pos += 6
	return r, nil
}

// lowSurrogate checks that the surrogate r, just read from the escape at
// byte at, is the high half of a pair, and reads the low half. A lone
// surrogate is refused rather than read as U+FFFD (as encoding/json does):
// the ingest keeps an event's own bytes as jsonb, and Postgres refuses the
// escape there, which would fail the ingest's whole batch instead of
// sending this one event to the dlq.
func (l *lexer) lowSurrogate(r rune, at int) error {
	if r < 0xdc00 && l.pos+1 < len(l.data) && l.data[l.pos] == '\\' && l.data[l.pos+1] == 'u' {
		r2, err := l.hexEscape()
		if err != nil {
			return err
		}
		if r2 >= 0xdc00 && r2 <= 0xdfff {
			return nil
		}
	}
	l.pos = at
	return l.errorf("unpaired UTF-16 surrogate in a \\u escape")
}

// Bytes of a 64-bit word: every byte 0x01, every byte 0x80.
const (
	ones8 = 0x0101010101010101
	high8 = 0x8080808080808080
)

// plainWords returns the length of b's longest prefix of whole 8-byte words
// in which every byte can be skipped inside a JSON string: ASCII, not a
// control character, not '"' and not '\\'. Eight bytes per step instead of
// one (SWAR: each test below is exact for the word as a whole).
func plainWords(b []byte) int {
	n := 0
	for ; len(b)-n >= 8; n += 8 {
		x := binary.LittleEndian.Uint64(b[n:])
		quote, backslash := x^(ones8*'"'), x^(ones8*'\\')
		special := (x - ones8*0x20) & ^x // a byte below 0x20
		special |= (quote - ones8) & ^quote
		special |= (backslash - ones8) & ^backslash
		if (special|x)&high8 != 0 { // or a byte at or above 0x80
			return n
		}
	}
	return n
}

// unescape appends the decoded form of raw, which scanString has checked:
// a surrogate escape is the high half of a pair, the low half follows.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r = utf16.DecodeRune(r, hex4(raw[i+2:]))
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	return rune(unhex(b[0])<<12 | unhex(b[1])<<8 | unhex(b[2])<<4 | unhex(b[3]))
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// skip consumes any JSON value, nested at most maxSkipDepth deep.
func (l *lexer) skip(depth int) error {
	if depth > maxSkipDepth {
		return l.errorf("nested too deep")
	}
	if l.pos >= len(l.data) {
		return l.errorf("unexpected end of input")
	}
	switch c := l.data[l.pos]; {
	case c == '"':
		_, _, err := l.scanString()
		return err
	case c == '{':
		return l.object(func([]byte) error { return l.skip(depth + 1) })
	case c == '[':
		return l.array(func(int) error { return l.skip(depth + 1) })
	case c == 't' || c == 'f':
		_, err := l.bool()
		return err
	case c == 'n':
		if !l.null() {
			return l.errorf("expected null")
		}
		return nil
	default:
		_, err := l.number()
		return err
	}
}
