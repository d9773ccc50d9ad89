package events

import (
	"crypto/rand"
	"sync"
	"time"
)

// NewID returns a new UUIDv7 (time-ordered) in canonical lower-case form,
// for event ids we produce. It costs one allocation (the string).
func NewID() string {
	var buf [36]byte
	return string(AppendNewV7(buf[:0]))
}

// v7clock keeps UUIDv7s from this process strictly increasing.
var v7clock struct {
	sync.Mutex
	last int64 // unix milliseconds << 12 | 12-bit sub-millisecond fraction
}

// AppendNewV7 appends a new UUIDv7 (RFC 9562) in canonical form (36 bytes)
// to dst. It does not allocate when dst has room: the tracker calls it once
// per click.
//
// It follows the layout of github.com/google/uuid's NewV7 (48-bit Unix
// milliseconds, 12 bits of sub-millisecond time in rand_a, bumped to stay
// strictly increasing within the process — RFC 9562 §6.2 method 3 — and 62
// random bits from crypto/rand), but does not call it: uuid.NewV7 reads
// randomness through an io.Reader, which makes its buffer escape (one
// allocation per call). crypto/rand.Read of a stack array does not escape.
// The output is checked against uuid.Parse in the tests.
func AppendNewV7(dst []byte) []byte { return AppendNewV7At(dst, time.Now()) }

// AppendNewV7At is AppendNewV7 with the time given: the tracker passes the
// click's time (fasthttp's request time), which saves a clock read per click
// and makes the id's timestamp the click's. Ids stay strictly increasing
// within the process even when times come out of order.
func AppendNewV7At(dst []byte, t time.Time) []byte {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails: Go crashes the program if the OS source does
	now := t.UnixNano()
	ts := now/1e6<<12 | (now%1e6)*4096/1e6
	v7clock.Lock()
	if ts <= v7clock.last {
		ts = v7clock.last + 1
	}
	v7clock.last = ts
	v7clock.Unlock()
	ms, sub := uint64(ts>>12), uint64(ts&0xfff)
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(sub>>8)
	u[7] = byte(sub)
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	for i, b := range u {
		switch i {
		case 4, 6, 8, 10:
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}
