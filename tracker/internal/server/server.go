// Package server is the tracker's HTTP edge on fasthttp: redirects with
// the device cookie and click capture, the shop event endpoints, health and
// metrics. Routing is a plain switch on the parsed path (package route).
package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/devcookie"
	"github.com/openaff/affiliate/tracker/internal/links"
	"github.com/openaff/affiliate/tracker/internal/route"
)

// Producer is what the server needs from the producer package.
type Producer interface {
	// Offer takes ownership of r and never blocks.
	Offer(r *click.Record)
	// Send returns nil once msgs are durable.
	Send(msgs []kafka.Message) error
	// Healthy reports whether Kafka took the last write.
	Healthy() bool
}

// Options configure a Server. Every field is required unless noted.
type Options struct {
	ShopURL         string // where unknown links land
	Cache           *links.Cache
	Signer          *devcookie.Signer
	Cookie          devcookie.Attrs
	Producer        Producer
	APIKeys         []string
	IdentitiesTopic string
	OrdersTopic     string
	// MaxEvents is the most events one /v1 request may carry.
	MaxEvents int
	// MaxMessageBytes is the largest event, key plus value once encoded,
	// the producer can write (producer.MaxMessageBytes); a request with a
	// larger one gets 413 rather than be accepted into a spool Kafka will
	// never take it from. 0: only pkg/events' limit.
	MaxMessageBytes int
	// StaleAfter is the link-cache age after which /healthz and the
	// tracker_links_stale metric report stale data.
	StaleAfter time.Duration
	// ClientIPHeader, when set, names a header (such as X-Forwarded-For)
	// whose last address is the client's; only set it behind a proxy that
	// overwrites or appends to it.
	ClientIPHeader string
	// Unreported, when set, is how long the tracker has held clicks or
	// events that no spool report in Postgres vouches for (serve's
	// spoolReporter); /healthz shows it.
	Unreported func() time.Duration
	// UnhealthyUnreported, when above 0, makes /healthz answer 503 once
	// Unreported reaches it: a load balancer then stops sending visitors
	// to a tracker whose clicks would reach ClickHouse behind the sink's
	// watermarks (past the sink's -spool-report-stale).
	UnhealthyUnreported time.Duration
	Metrics             *metrics.Set
	Logger              *slog.Logger
}

// Server handles tracker requests. Create it with New.
type Server struct {
	o       Options
	shop    []byte
	keyHash [][sha256.Size]byte
	scratch sync.Pool
	m       serverMetrics
}

type serverMetrics struct {
	click, suspended, unknown, deepRejected, head *metrics.Counter
	badMethod, notFound, tooLarge                 *metrics.Counter
	ingestOK, ingestBad, ingestAuth, ingestBusy   *metrics.Counter
	cookieNew, cookieKept, cookieForged           *metrics.Counter
	latency                                       *metrics.PrometheusHistogram
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{o: o, shop: []byte(o.ShopURL)}
	for _, k := range o.APIKeys {
		s.keyHash = append(s.keyHash, sha256.Sum256([]byte(k)))
	}
	s.scratch.New = func() any { b := make([]byte, 0, 512); return &b }
	set := o.Metrics
	red := func(outcome string) *metrics.Counter {
		return set.NewCounter(`tracker_redirects_total{outcome="` + outcome + `"}`)
	}
	s.m = serverMetrics{
		click:        red("click"),
		suspended:    red("suspended"),
		unknown:      red("unknown"),
		deepRejected: red("deep_path_rejected"),
		head:         red("head"),
		badMethod:    set.NewCounter(`tracker_requests_rejected_total{reason="method"}`),
		notFound:     set.NewCounter(`tracker_requests_rejected_total{reason="not_found"}`),
		tooLarge:     set.NewCounter(`tracker_requests_rejected_total{reason="too_large"}`),
		ingestOK:     set.NewCounter(`tracker_ingest_requests_total{status="202"}`),
		ingestBad:    set.NewCounter(`tracker_ingest_requests_total{status="400"}`),
		ingestAuth:   set.NewCounter(`tracker_ingest_requests_total{status="401"}`),
		ingestBusy:   set.NewCounter(`tracker_ingest_requests_total{status="503"}`),
		cookieNew:    set.NewCounter(`tracker_device_cookies_total{result="new"}`),
		cookieKept:   set.NewCounter(`tracker_device_cookies_total{result="kept"}`),
		cookieForged: set.NewCounter(`tracker_device_cookies_total{result="replaced"}`),
		latency: set.NewPrometheusHistogramExt(`tracker_request_duration_seconds`,
			[]float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}),
	}
	set.NewGauge(`tracker_links_sync_age_seconds`, func() float64 { return s.linksAge().Seconds() })
	set.NewGauge(`tracker_links_stale`, func() float64 {
		if s.linksAge() > o.StaleAfter {
			return 1
		}
		return 0
	})
	return s
}

func (s *Server) linksAge() time.Duration { return time.Since(s.o.Cache.Load().SyncedAt) }

// Handle is the fasthttp request handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	// fasthttp read the clock when the request arrived: the click's time
	// and the start of the latency measure, without a second clock read.
	start := ctx.Time()
	kind, key, rest := route.Parse(ctx.URI().PathOriginal())
	switch kind {
	case route.Code, route.Slug, route.Deep:
		s.redirect(ctx, kind, key, rest, start)
	case route.Unknown:
		if !s.isGetOrHead(ctx) {
			return
		}
		s.m.unknown.Inc()
		s.location(ctx, s.shop)
	case route.Identify:
		s.ingest(ctx, s.o.IdentitiesTopic, true)
	case route.Orders:
		s.ingest(ctx, s.o.OrdersTopic, false)
	case route.Healthz:
		s.healthz(ctx)
	case route.Metrics:
		s.o.Metrics.WritePrometheus(ctx)
		metrics.WriteProcessMetrics(ctx)
	default:
		s.m.notFound.Inc()
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
	s.m.latency.UpdateDuration(start)
}

func (s *Server) isGetOrHead(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	s.m.badMethod.Inc()
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
	return false
}

// location answers 302 to target. The redirect must not be cached: a cached
// redirect would hide the next click.
func (s *Server) location(ctx *fasthttp.RequestCtx, target []byte) {
	ctx.SetStatusCode(fasthttp.StatusFound)
	h := &ctx.Response.Header
	h.SetBytesV("Location", target)
	h.Set("Cache-Control", "private, no-store")
}

// redirect serves /r/{code}, /{slug} and /{slug}/{path...}. It does not
// allocate: lookups use the immutable snapshot, the click Record comes
// from a pool and every kept byte is copied into it.
func (s *Server) redirect(ctx *fasthttp.RequestCtx, kind route.Kind, key, rest []byte, start time.Time) {
	if !s.isGetOrHead(ctx) {
		return
	}
	snap := s.o.Cache.Load()
	var e *links.Entry
	if kind == route.Code {
		e = snap.Code(key)
	} else {
		var lower [route.MaxKeyLen]byte
		e = snap.Slug(toLower(lower[:0], key))
	}
	if e == nil {
		s.m.unknown.Inc()
		s.location(ctx, s.shop)
		return
	}
	bp := s.scratch.Get().(*[]byte)
	defer s.scratch.Put(bp)
	target := append((*bp)[:0], e.Target...)
	if kind == route.Deep {
		target = append(append(target[:0], e.DeepBase...), rest...)
		if q := ctx.URI().QueryString(); len(q) > 0 && route.ValidQuery(q) {
			target = append(append(target, '?'), q...)
		}
		if len(target) > click.MaxTargetBytes {
			s.m.deepRejected.Inc()
			target = append(target[:0], e.Target...)
			kind = route.Slug
		}
	}
	*bp = target
	if !e.Attribute || ctx.IsHead() {
		// A suspended partner's links still work for visitors but earn
		// nothing; HEAD requests (link previews, monitors) are no visits.
		if ctx.IsHead() {
			s.m.head.Inc()
		} else {
			s.m.suspended.Inc()
		}
		s.location(ctx, target)
		return
	}
	r := click.Get()
	r.At = start
	r.Entry = e
	s.deviceToken(ctx, r.Token[:0])
	if kind == route.Deep {
		click.SetBytes(&r.Target, target, click.MaxTargetBytes)
	}
	click.SetBytes(&r.Referer, ctx.Request.Header.Referer(), click.MaxRefererBytes)
	click.SetBytes(&r.UserAgent, ctx.Request.Header.UserAgent(), click.MaxUserAgentBytes)
	if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
		r.IP = ip
	}
	if s.o.ClientIPHeader != "" {
		click.SetForwarded(&r.Forwarded, ctx.Request.Header.Peek(s.o.ClientIPHeader))
	}
	s.location(ctx, target)
	s.o.Producer.Offer(r)
	s.m.click.Inc()
}

// deviceToken writes the visitor's device token (the whole cookie value)
// into dst, which has room for it, issuing a new signed cookie when the
// request carries none or an invalid one.
func (s *Server) deviceToken(ctx *fasthttp.RequestCtx, dst []byte) {
	if v := ctx.Request.Header.Cookie(devcookie.Name); len(v) > 0 {
		if _, ok := s.o.Signer.Verify(v); ok {
			s.m.cookieKept.Inc()
			_ = append(dst, v...)
			return
		}
		s.m.cookieForged.Inc()
	} else {
		s.m.cookieNew.Inc()
	}
	v := s.o.Signer.AppendNew(dst)
	bp := s.scratch.Get().(*[]byte)
	hdr := s.o.Cookie.AppendSetCookie((*bp)[:0], v)
	ctx.Response.Header.SetBytesV("Set-Cookie", hdr)
	*bp = hdr
	s.scratch.Put(bp)
}

func toLower(dst, b []byte) []byte {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// authorized compares the bearer key with every configured key in constant
// time (over SHA-256 digests, so key lengths do not leak either). The scheme
// is case-insensitive and followed by one or more spaces (RFC 7235 §2.1,
// RFC 6750 §2.1): "bearer <key>" is as good as "Bearer <key>".
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	h := ctx.Request.Header.Peek("Authorization")
	const scheme = "bearer" // lower case: compared with its letters' case folded
	if len(h) <= len(scheme) || h[len(scheme)] != ' ' {
		return false
	}
	for i := range len(scheme) {
		if h[i]|0x20 != scheme[i] { // ASCII letters only: '|0x20' lowers A-Z
			return false
		}
	}
	key := h[len(scheme):]
	for len(key) > 0 && key[0] == ' ' {
		key = key[1:]
	}
	if len(key) == 0 {
		return false
	}
	got := sha256.Sum256(key)
	ok := 0
	for i := range s.keyHash {
		ok |= subtle.ConstantTimeCompare(got[:], s.keyHash[i][:])
	}
	return ok == 1
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	// 200 while serving: the tracker keeps redirecting from its cache and
	// spools clicks, so a load balancer must not pull it. The body says
	// what is degraded. The one exception, when configured: clicks held
	// unreported for UnhealthyUnreported (503, "unhealthy").
	age := s.linksAge()
	status := "ok"
	linksState := "fresh"
	if age > s.o.StaleAfter {
		status, linksState = "degraded", "stale"
	}
	kafkaState := "ok"
	if !s.o.Producer.Healthy() {
		status, kafkaState = "degraded", "down"
	}
	var unreported time.Duration
	if s.o.Unreported != nil {
		unreported = s.o.Unreported()
	}
	if s.o.UnhealthyUnreported > 0 && unreported >= s.o.UnhealthyUnreported {
		status = "unhealthy"
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	b := append([]byte(nil), `{"status":"`...)
	b = append(b, status...)
	b = append(b, `","links":"`...)
	b = append(b, linksState...)
	b = append(b, `","links_age_seconds":`...)
	b = strconv.AppendFloat(b, age.Seconds(), 'f', 3, 64)
	b = append(b, `,"kafka":"`...)
	b = append(b, kafkaState...)
	b = append(b, `","spool_unreported_seconds":`...)
	b = strconv.AppendFloat(b, unreported.Seconds(), 'f', 3, 64)
	b = append(b, `}`...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// HandleError is the fasthttp ErrorHandler: it answers requests fasthttp
// could not read, with the status each limit calls for.
func (s *Server) HandleError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.m.tooLarge.Inc()
		jsonError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body over the limit (see -max-body-bytes)", "", 0)
	case errors.As(err, &small):
		s.m.tooLarge.Inc()
		ctx.Error("request headers too large (see -max-header-bytes)", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		ctx.Error("request timeout (see -read-timeout)", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("malformed request", fasthttp.StatusBadRequest)
	}
}
