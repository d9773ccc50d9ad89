// Package click turns a redirect into a click event: the Record a request
// handler fills (copying every byte it keeps out of fasthttp's RequestCtx),
// a pool for Records, the bot and repeat flags, IP anonymisation and the
// JSON encoding of DESIGN §4.3.
package click

import (
	"bytes"
	"net/netip"
	"sync"
	"time"

	"github.com/openaff/affiliate/tracker/internal/links"
)

// Limits on what a click keeps of the request; longer values are cut.
const (
	MaxRefererBytes   = 2048 // events.MaxURLLen
	MaxUserAgentBytes = 512
	MaxTargetBytes    = 2048 // events.MaxURLLen
	// MaxForwardedBytes bounds the client-IP header kept: its end (see
	// SetForwarded).
	MaxForwardedBytes = 256
	// TokenBytes is the length of a device token: the whole aff_dt value.
	TokenBytes = 45
)

// Record is one click before encoding. A handler fills it from the request,
// owning copies of every byte (fasthttp reuses the request's memory once the
// handler returns), and hands it to the producer, which encodes and
// releases it.
type Record struct {
	At    time.Time
	Entry *links.Entry // immutable, shared
	Token [TokenBytes]byte
	// Target is the redirect target when it differs from Entry.Target (deep
	// links); empty otherwise.
	Target    []byte
	Referer   []byte
	UserAgent []byte
	// IP is the peer address; Forwarded, when set, is the raw value of the
	// configured client-IP header, parsed at encoding time.
	IP        netip.Addr
	Forwarded []byte
}

var pool = sync.Pool{New: func() any {
	return &Record{
		Target:    make([]byte, 0, 256),
		Referer:   make([]byte, 0, 256),
		UserAgent: make([]byte, 0, 256),
		Forwarded: make([]byte, 0, 64),
	}
}}

// Get returns an empty Record from the pool.
func Get() *Record { return pool.Get().(*Record) }

// Put resets r and returns it to the pool. r must not be used afterwards.
func Put(r *Record) {
	r.Entry = nil
	r.Target = r.Target[:0]
	r.Referer = r.Referer[:0]
	r.UserAgent = r.UserAgent[:0]
	r.Forwarded = r.Forwarded[:0]
	r.IP = netip.Addr{}
	pool.Put(r)
}

// SetBytes copies src into *dst (reusing its memory), cut at limit bytes.
func SetBytes(dst *[]byte, src []byte, limit int) {
	if len(src) > limit {
		src = src[:limit]
	}
	*dst = append((*dst)[:0], src...)
}

// SetForwarded copies the end of src, the value of the client-IP header
// (such as X-Forwarded-For), into *dst (reusing its memory): at most
// MaxForwardedBytes, and when src is longer, only the whole entries after
// a comma. The trusted proxy appends the address it saw at the end; what
// comes before is the visitor's to choose, so a long header must not push
// the proxy's entry out of what is kept.
func SetForwarded(dst *[]byte, src []byte) {
	if cut := len(src) - MaxForwardedBytes; cut > 0 {
		tail := src[cut:]
		if src[cut-1] != ',' {
			// Cut inside an entry: drop the rest of it (all of tail when
			// one entry is longer than any address).
			if i := bytes.IndexByte(tail, ','); i >= 0 {
				tail = tail[i+1:]
			} else {
				tail = tail[:0]
			}
		}
		src = tail
	}
	*dst = append((*dst)[:0], src...)
}

// ClientAddr returns the client address of r: the last valid address of
// the Forwarded header value when one was captured (the hop the trusted
// proxy saw), else the peer address.
func (r *Record) ClientAddr() netip.Addr {
	f := r.Forwarded
	for len(f) > 0 {
		i := len(f) - 1
		for i >= 0 && f[i] != ',' {
			i--
		}
		part := trimSpace(f[i+1:])
		if a, err := netip.ParseAddr(string(part)); err == nil {
			return a
		}
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return r.IP
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
