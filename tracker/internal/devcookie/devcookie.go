// Package devcookie issues and verifies the device cookie `aff_dt` of
// DESIGN §4.2: a random 128-bit token followed by an HMAC-SHA256 signature,
// both base64url-encoded and joined by a dot.
//
// The cookie value is "<token>.<mac>", where token is 22 characters (16
// random bytes) and mac is 22 characters (the first 16 bytes of
// HMAC-SHA256(secret, token)). The device token carried in events is the
// whole cookie value (the tracker's clicks carry it, and the shop reads the
// first-party cookie and sends it back as device_token; see the README).
//
// Signing uses the first secret; verification accepts any secret, so a
// secret can be rotated (put the new one first, keep the old one after it)
// without forgetting every device.
package devcookie

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"sync"
)

// Name is the cookie name of the device token.
const Name = "aff_dt"

// MaxAgeSeconds is the cookie lifetime: 400 days, the longest browsers keep
// a cookie.
const MaxAgeSeconds = 400 * 24 * 3600

const (
	rawTokenBytes = 16
	rawMACBytes   = 16
	// TokenLen is the length of the encoded device token.
	TokenLen = 22
	// ValueLen is the length of a complete cookie value.
	ValueLen = TokenLen + 1 + TokenLen
)

// enc decodes strictly: the padding bits of the last character must be
// zero. A lenient decoder ignores them, so that 16 spellings of one
// token or signature decode to the same bytes (22 characters carry 132
// bits for 128), and one device could show up under 16 token strings.
var enc = base64.RawURLEncoding.Strict()

// Signer signs and verifies device cookies. It is safe for concurrent use
// and allocates nothing per call once warm.
type Signer struct {
	pools []sync.Pool // one pool of *macState per secret, same order
}

// macState is a reusable HMAC with its output buffer; keeping the buffer on
// the heap beside the hash avoids an allocation per Sum through the
// hash.Hash interface.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// New returns a Signer that signs with secrets[0] and accepts any of them.
func New(secrets [][]byte) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("devcookie: at least one secret is required")
	}
	s := &Signer{pools: make([]sync.Pool, len(secrets))}
	for i := range secrets {
		key := append([]byte(nil), secrets[i]...)
		s.pools[i].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	}
	return s, nil
}

// mac appends the truncated signature of token under secret i to dst.
func (s *Signer) mac(dst []byte, i int, token []byte) []byte {
	st := s.pools[i].Get().(*macState)
	st.h.Reset()
	st.h.Write(token)
	st.h.Sum(st.sum[:0])
	dst = append(dst, st.sum[:rawMACBytes]...)
	s.pools[i].Put(st)
	return dst
}

// Verify reports whether value is a well-formed cookie signed with any of
// the secrets. On success it returns the token part, a subslice of value:
// it aliases value and must be copied before value's memory is reused.
// The signature is compared in constant time.
func (s *Signer) Verify(value []byte) (token []byte, ok bool) {
	if len(value) != ValueLen || value[TokenLen] != '.' {
		return nil, false
	}
	// Both parts must be the one spelling of their bytes (enc is strict,
	// and the fixed length leaves no room for the line breaks base64
	// decoders skip): one device has exactly one token string.
	token = value[:TokenLen]
	var raw [rawTokenBytes + 2]byte // decoding 22 chars may yield up to 16 bytes
	if n, err := enc.Decode(raw[:], token); err != nil || n != rawTokenBytes {
		return nil, false
	}
	var got [rawMACBytes + 2]byte
	n, err := enc.Decode(got[:], value[TokenLen+1:])
	if err != nil || n != rawMACBytes {
		return nil, false
	}
	var want [rawMACBytes]byte
	match := 0
	for i := range s.pools {
		s.mac(want[:0], i, token)
		match |= subtle.ConstantTimeCompare(want[:], got[:rawMACBytes])
	}
	if match != 1 {
		return nil, false
	}
	return token, true
}

// AppendNew appends a new signed cookie value (token, dot, signature) to
// dst, using 128 bits from crypto/rand. The token is dst[len(dst):][:TokenLen]
// of the result.
func (s *Signer) AppendNew(dst []byte) []byte {
	var raw [rawTokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go ≥ 1.24 crashes
		// the program itself rather than return an error).
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	start := len(dst)
	dst = enc.AppendEncode(dst, raw[:])
	var sig [rawMACBytes]byte
	s.mac(sig[:0], 0, dst[start:])
	dst = append(dst, '.')
	return enc.AppendEncode(dst, sig[:])
}

// Attrs are the cookie attributes of DESIGN §4.2 besides name and value.
type Attrs struct {
	Domain string // empty: host-only cookie
	Secure bool
}

// AppendSetCookie appends a complete Set-Cookie header value for value to
// dst: HttpOnly, SameSite=Lax, Path=/, Max-Age 400 days, plus Domain and
// Secure when configured.
func (a Attrs) AppendSetCookie(dst, value []byte) []byte {
	dst = append(dst, Name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	dst = append(dst, "; Max-Age="...)
	dst = strconv.AppendInt(dst, MaxAgeSeconds, 10)
	dst = append(dst, "; Path=/"...)
	if a.Domain != "" {
		dst = append(dst, "; Domain="...)
		dst = append(dst, a.Domain...)
	}
	dst = append(dst, "; HttpOnly; SameSite=Lax"...)
	if a.Secure {
		dst = append(dst, "; Secure"...)
	}
	return dst
}
