// Package auth holds the dashboard's security primitives: password hashing
// (bcrypt), session and CSRF tokens, constant-time bearer checks and
// address anonymisation for the login rate limit.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost of stored passwords (about 250 ms on a
// current core): slow enough to make offline guessing expensive.
const DefaultCost = 12

// Password length limits. bcrypt reads at most 72 bytes, so longer
// passwords are refused rather than silently truncated.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// ErrWeakPassword reports a password outside the length limits.
var ErrWeakPassword = errors.New("password must be 10 to 72 bytes")

// Hasher hashes and checks passwords with bcrypt at a fixed cost.
type Hasher struct{ Cost int }

// Hash returns the bcrypt hash of password.
func (h Hasher) Hash(password string) (string, error) {
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return "", ErrWeakPassword
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost())
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (h Hasher) cost() int {
	if h.Cost == 0 {
		return DefaultCost
	}
	return h.Cost
}

// dummies holds, per bcrypt cost, a hash compared against when the user
// does not exist, so that a login for an unknown e-mail takes as long as
// one for a known e-mail (whose hash has the Hasher's cost). Made on first
// use: a cost-12 hash takes a quarter of a second.
var dummies sync.Map // int → []byte

func dummyHash(cost int) []byte {
	if v, ok := dummies.Load(cost); ok {
		return v.([]byte)
	}
	b, err := bcrypt.GenerateFromPassword([]byte("not-a-real-password"), cost)
	if err != nil {
		panic("BUG: bcrypt refused cost " + strconv.Itoa(cost) + ": " + err.Error())
	}
	v, _ := dummies.LoadOrStore(cost, b)
	return v.([]byte)
}

// Check reports whether password matches hash. An empty hash (unknown
// user) still costs one comparison at the Hasher's cost.
func (h Hasher) Check(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(h.cost()), []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// NewToken returns a random URL-safe token of 32 bytes.
func NewToken() string {
	return base64.RawURLEncoding.EncodeToString(RandomBytes(32))
}

// RandomBytes returns n random bytes; it panics when the system's random
// source fails (nothing sensible can continue without it).
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return b
}

// TokenHash returns the SHA-256 of a session token; only the hash is stored.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// BearerMatches checks an Authorization header against the expected token
// in constant time. An empty expected token never matches.
func BearerMatches(header, want string) bool {
	const prefix = "Bearer "
	if want == "" || len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(header[len(prefix):]))
	exp := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}

// IPPrefix anonymises a remote address: an IPv4 address to its /24, an
// IPv6 address to its /48. It accepts "host:port" or a bare address.
func IPPrefix(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return p.String()
}
