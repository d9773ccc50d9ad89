// Package links keeps the tracker's in-memory view of tracking links
// (/r/{code}) and partner slugs (/{slug}) fresh from Postgres.
//
// Reads are lock-free: the hot path loads an atomic pointer to an immutable
// Snapshot and does one map lookup. A single loader goroutine owns the
// mutable copies of the rows, applies changes (LISTEN links_changed plus an
// incremental poll on updated_at as the safety net) and publishes a new
// Snapshot when something changed.
package links

import (
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Entry is a resolved, immutable redirect target. Entries are shared by
// every request and must never be modified.
type Entry struct {
	// LinkID is the links.id of a generated link, "slug:<slug>" for a
	// partner's site link.
	LinkID    string
	PartnerID string
	// Kind is the click kind: "link" or "deep" (generated links, as stored),
	// "slug" (a deep link through a slug is recorded as "deep").
	Kind       string
	Target     string // validated absolute URL (for slugs: the landing base)
	ProductID  string
	CategoryID string
	// Attribute is false when the partner is suspended: the visitor is
	// still redirected to Target, but no click is recorded.
	Attribute bool
	// DeepBase is, for slugs, the shop base URL (no trailing '/') a
	// deep-link path is appended to.
	DeepBase string
}

// Snapshot is an immutable view of all links and slugs.
type Snapshot struct {
	codes    map[string]*Entry
	slugs    map[string]*Entry
	SyncedAt time.Time // when the data was last confirmed current with Postgres
}

// Code returns the entry of an active link code, or nil.
func (s *Snapshot) Code(code []byte) *Entry { return s.codes[string(code)] }

// Slug returns the entry of a partner slug, or nil. slug must already be
// lower-case (slugs are stored lower-case).
func (s *Snapshot) Slug(slug []byte) *Entry { return s.slugs[string(slug)] }

// Len returns the number of codes and slugs in the snapshot.
func (s *Snapshot) Len() (codes, slugs int) { return len(s.codes), len(s.slugs) }

// Cache publishes Snapshots. The zero value is not usable; see New.
type Cache struct {
	cur atomic.Pointer[Snapshot]
}

// Load returns the current snapshot. It never returns nil once the Cache
// was created with New.
func (c *Cache) Load() *Snapshot { return c.cur.Load() }

// Policy decides which targets a link may redirect to.
type Policy struct {
	ShopURL      *url.URL
	AllowedHosts []string // lower-case host names, without port
}

// CheckTarget reports whether raw is an absolute http(s) URL on an allowed
// host, without user info or characters a browser might reinterpret
// (backslash, control characters, spaces). It returns the reason when not.
func (p Policy) CheckTarget(raw string) (string, bool) {
	if len(raw) > 2048 {
		return "longer than 2048 bytes", false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == '\\' || c >= 0x7f {
			return "contains a control, space, backslash or non-ASCII byte", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL", false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "scheme is not http or https", false
	}
	if u.User != nil {
		return "contains user info", false
	}
	if u.Host == "" || u.Opaque != "" {
		return "has no host", false
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range p.AllowedHosts {
		if host == h {
			return "", true
		}
	}
	return "host " + host + " is not in AFF_ALLOWED_HOSTS", false
}

// shopBase returns the shop URL without a trailing '/', the base of deep
// links.
func (p Policy) shopBase() string {
	s := p.ShopURL.Scheme + "://" + p.ShopURL.Host + p.ShopURL.EscapedPath()
	return strings.TrimRight(s, "/")
}

// NewStatic returns a Cache serving fixed entries, for tests and benchmarks.
func NewStatic(codes, slugs map[string]*Entry) *Cache {
	c := &Cache{}
	c.cur.Store(&Snapshot{codes: codes, slugs: slugs, SyncedAt: time.Now()})
	return c
}
