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

// v7clock keeps UUIDv7s from this process strictly increasing and holds
// their random bits: one crypto/rand read fills the pool for 64 ids (a
// getrandom call per id cost about a tenth of encoding a click). The bits
// are only ever used once.
var v7clock struct {
	sync.Mutex
	last int64 // unix milliseconds << 12 | 12-bit sub-millisecond fraction
	pool [64 * 8]byte
	left int // bytes of pool not handed out yet, from the end
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
// allocation per call), and reads it once per id. The output is checked
// against uuid.Parse in the tests.
func AppendNewV7(dst []byte) []byte { return AppendNewV7At(dst, time.Now()) }

// AppendNewV7At is AppendNewV7 with the time given: the tracker passes the
// click's time (fasthttp's request time), which saves a clock read per click
// and makes the id's timestamp the click's. Ids stay strictly increasing
// within the process even when times come out of order.
func AppendNewV7At(dst []byte, t time.Time) []byte {
	var u [16]byte
	now := t.UnixNano()
	ts := now/1e6<<12 | (now%1e6)*4096/1e6
	v7clock.Lock()
	if ts <= v7clock.last {
		ts = v7clock.last + 1
	}
	v7clock.last = ts
	if v7clock.left == 0 {
		_, _ = rand.Read(v7clock.pool[:]) // never fails: Go crashes the program if the OS source does
		v7clock.left = len(v7clock.pool)
	}
	// 8 random bytes for u[8:16] (62 bits once the variant is set; the
	// time and version overwrite u[0:8]).
	v7clock.left -= 8
	rnd := v7clock.pool[v7clock.left : v7clock.left+8]
	copy(u[8:], rnd)
	clear(rnd)
	v7clock.Unlock()
	ms, sub := uint64(ts>>12), uint64(ts&0xfff)
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(sub>>8)
	u[7] = byte(sub)
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	var out [36]byte
	j := 0
	for i, b := range u {
		switch i {
		case 4, 6, 8, 10:
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[b>>4], hexDigits[b&0xf]
		j += 2
	}
	return append(dst, out[:]...)
}
