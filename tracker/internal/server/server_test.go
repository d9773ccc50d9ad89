package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/openaff/affiliate/tracker/internal/click"
	"github.com/openaff/affiliate/tracker/internal/devcookie"
	"github.com/openaff/affiliate/tracker/internal/links"
)

// fakeProducer records what the server hands over (a pure-logic fake: the
// real producer is tested against a broker).
type fakeProducer struct {
	mu     sync.Mutex
	clicks []click.Record
	sent   []kafka.Message
	fail   bool
	keep   bool
}

func (f *fakeProducer) Offer(r *click.Record) {
	if f.keep {
		f.mu.Lock()
		c := *r
		c.Target = append([]byte(nil), r.Target...)
		c.Referer = append([]byte(nil), r.Referer...)
		c.UserAgent = append([]byte(nil), r.UserAgent...)
		c.Forwarded = append([]byte(nil), r.Forwarded...)
		f.clicks = append(f.clicks, c)
		f.mu.Unlock()
	}
	click.Put(r)
}

func (f *fakeProducer) Send(msgs []kafka.Message) error {
	if f.fail {
		return errors.New("kafka and spool down")
	}
	f.mu.Lock()
	f.sent = append(f.sent, msgs...)
	f.mu.Unlock()
	return nil
}

func (f *fakeProducer) Healthy() bool { return !f.fail }

const shop = "https://shop.example"

var secret = []byte("a-test-secret-of-enough-bytes")

func newTestServer(t testing.TB) (*Server, *fakeProducer) {
	t.Helper()
	signer, err := devcookie.New([][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]*links.Entry{
		"abc123":  {LinkID: "7", PartnerID: "1", Kind: "link", Target: shop + "/p/42?x=1", ProductID: "42", CategoryID: "shoes", Attribute: true},
		"susp123": {LinkID: "8", PartnerID: "2", Kind: "link", Target: shop + "/p/43", Attribute: false},
	}
	slugs := map[string]*links.Entry{
		"serdar": {LinkID: "slug:serdar", PartnerID: "1", Kind: "slug", Target: shop, Attribute: true, DeepBase: shop},
		"banned": {LinkID: "slug:banned", PartnerID: "2", Kind: "slug", Target: shop, Attribute: false, DeepBase: shop},
	}
	fp := &fakeProducer{keep: true}
	s := New(Options{
		ShopURL: shop, Cache: links.NewStatic(codes, slugs), Signer: signer,
		Cookie: devcookie.Attrs{Domain: "shop.example", Secure: true}, Producer: fp,
		APIKeys: []string{"shop-key-1", "shop-key-2"}, IdentitiesTopic: "aff.identities", OrdersTopic: "aff.orders",
		MaxEvents: 3, StaleAfter: 10 * time.Second, Metrics: metrics.NewSet(), Logger: slog.New(slog.DiscardHandler),
	})
	return s, fp
}

type response struct {
	status    int
	location  string
	setCookie string
	body      string
}

func do(s *Server, method, uri string, hdr map[string]string, body string) response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.SetBodyString(body)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 77), Port: 5555}, nil)
	s.Handle(&ctx)
	return response{
		status:    ctx.Response.StatusCode(),
		location:  string(ctx.Response.Header.Peek("Location")),
		setCookie: string(ctx.Response.Header.Peek("Set-Cookie")),
		body:      string(ctx.Response.Body()),
	}
}

func TestRouting(t *testing.T) {
	s, fp := newTestServer(t)
	f := func(method, uri string, wantStatus int, wantLocation string, wantClick bool) {
		t.Helper()
		before := len(fp.clicks)
		r := do(s, method, uri, nil, "")
		if r.status != wantStatus || r.location != wantLocation {
			t.Fatalf("%s %s = %d %q, want %d %q", method, uri, r.status, r.location, wantStatus, wantLocation)
		}
		if got := len(fp.clicks) > before; got != wantClick {
			t.Fatalf("%s %s recorded a click: %v, want %v", method, uri, got, wantClick)
		}
	}
	// Generated link: to its target, click recorded.
	f("GET", "/r/abc123", 302, shop+"/p/42?x=1", true)
	// Unknown code or slug: to the shop, nothing recorded.
	f("GET", "/r/nope99", 302, shop, false)
	f("GET", "/nobody", 302, shop, false)
	f("GET", "/", 302, shop, false)
	// Partner slug, case-insensitive, and deep links with a query.
	f("GET", "/serdar", 302, shop, true)
	f("GET", "/SerDar", 302, shop, true)
	f("GET", "/serdar/products/42", 302, shop+"/products/42", true)
	f("GET", "/serdar/products/42?color=red", 302, shop+"/products/42?color=red", true)
	// Suspended partner: the visitor still gets there, nothing recorded.
	f("GET", "/r/susp123", 302, shop+"/p/43", false)
	f("GET", "/banned/x", 302, shop+"/x", false)
	// HEAD: redirected, no click.
	f("HEAD", "/r/abc123", 302, shop+"/p/42?x=1", false)
	// Reserved first segments are never slugs.
	f("GET", "/static/app.js", 404, "", false)
	f("GET", "/v1/other", 404, "", false)
	f("GET", "/v1/orders", 405, "", false)
	f("POST", "/r/abc123", 405, "", false)
	f("GET", "/healthz", 200, "", false)
	f("GET", "/metrics", 200, "", false)
}

func TestNoOpenRedirect(t *testing.T) {
	s, _ := newTestServer(t)
	tricks := []string{
		"//evil.com", "//evil.com/", "///evil.com", "/\\evil.com", "/%5Cevil.com", "/%2F%2Fevil.com",
		"/https:evil.com", "/https://evil.com", "/http:%2F%2Fevil.com", "/@evil.com", "/user@evil.com",
		"/r/abc123@evil.com", "/r//evil.com", "/r/%2F%2Fevil.com",
		"/serdar//evil.com", "/serdar/\\evil.com", "/serdar/%5Cevil.com", "/serdar/%2F%2Fevil.com",
		"/serdar/..//evil.com", "/serdar/%2e%2e/%2e%2e//evil.com", "/serdar/\u2215\u2215evil.com",
		"/serdar/\uff0f\uff0fevil.com", "/serdar/a%0d%0aLocation:%20https://evil.com",
		"/serdar/x?next=https://evil.com", // a query is the shop's business; the host stays the shop's
		"/serdar/@evil.com", "/serdar/x@evil.com:443",
	}
	for _, uri := range tricks {
		r := do(s, "GET", uri, nil, "")
		if r.status != 302 {
			continue // refused outright is safe too
		}
		u, err := url.Parse(r.location)
		if err != nil || u.Scheme != "https" || u.Host != "shop.example" || u.User != nil ||
			strings.ContainsAny(r.location, "\\\r\n") || strings.Contains(u.Path, "//") {
			t.Fatalf("GET %s redirected to %q: not safely on the shop", uri, r.location)
		}
	}
}

func TestDeviceCookie(t *testing.T) {
	s, fp := newTestServer(t)
	// No cookie: a new one with every attribute of DESIGN §4.2.
	r := do(s, "GET", "/r/abc123", nil, "")
	v, rest, _ := strings.Cut(strings.TrimPrefix(r.setCookie, "aff_dt="), ";")
	wantAttrs := " Max-Age=34560000; Path=/; Domain=shop.example; HttpOnly; SameSite=Lax; Secure"
	if !strings.HasPrefix(r.setCookie, "aff_dt=") || rest != wantAttrs || len(v) != devcookie.ValueLen {
		t.Fatalf("Set-Cookie = %q, want aff_dt=<%d chars>;%s", r.setCookie, devcookie.ValueLen, wantAttrs)
	}
	if got := string(fp.clicks[len(fp.clicks)-1].Token[:]); got != v {
		t.Fatalf("click device token %q, want the cookie value %q", got, v)
	}
	// Valid cookie: kept, no Set-Cookie, same token in the click.
	r2 := do(s, "GET", "/serdar", map[string]string{"Cookie": "other=1; aff_dt=" + v}, "")
	if r2.setCookie != "" {
		t.Fatalf("valid cookie replaced: Set-Cookie %q", r2.setCookie)
	}
	if got := string(fp.clicks[len(fp.clicks)-1].Token[:]); got != v {
		t.Fatalf("click device token %q, want the kept cookie %q", got, v)
	}
	// Forged cookies are replaced, never trusted.
	// The same signature spelled with padding bits set: not the cookie
	// the tracker issued, though a lenient base64 decoder reads the same
	// bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	respelled := v[:len(v)-1] + string(alphabet[strings.IndexByte(alphabet, v[len(v)-1])|5])
	forged := []string{
		respelled,
		v[:devcookie.TokenLen] + ".AAAAAAAAAAAAAAAAAAAAAA",
		"x" + v[1:],
		"garbage",
		v + "A",
	}
	for _, bad := range forged {
		r3 := do(s, "GET", "/r/abc123", map[string]string{"Cookie": "aff_dt=" + bad}, "")
		nv, _, _ := strings.Cut(strings.TrimPrefix(r3.setCookie, "aff_dt="), ";")
		if nv == "" || nv == bad || nv == v {
			t.Fatalf("forged cookie %q: Set-Cookie %q, want a fresh token", bad, r3.setCookie)
		}
		if got := string(fp.clicks[len(fp.clicks)-1].Token[:]); got != nv {
			t.Fatalf("forged cookie %q: click token %q, want new %q", bad, got, nv)
		}
	}
}

func TestClickCapture(t *testing.T) {
	s, fp := newTestServer(t)
	do(s, "GET", "/serdar/p/1?a=b", map[string]string{"Referer": "https://blog.example/post", "User-Agent": "Mozilla/5.0 test"}, "")
	c := fp.clicks[len(fp.clicks)-1]
	if c.Entry.PartnerID != "1" || string(c.Target) != shop+"/p/1?a=b" || string(c.Referer) != "https://blog.example/post" ||
		string(c.UserAgent) != "Mozilla/5.0 test" || c.IP.Unmap().String() != "203.0.113.77" || time.Since(c.At) > time.Minute {
		t.Fatalf("click = %+v (target %q referer %q ua %q ip %v)", c, c.Target, c.Referer, c.UserAgent, c.IP)
	}
}

func TestIngest(t *testing.T) {
	s, fp := newTestServer(t)
	auth := map[string]string{"Authorization": "Bearer shop-key-2"}
	id := func(n string) string {
		return `{"v":1,"event_id":"e` + n + `","at":"2026-01-02T03:04:05Z","device_token":"tok","customer_id":"c1"}`
	}
	f := func(path string, hdr map[string]string, body string, wantStatus int, wantField string, wantLine int) {
		t.Helper()
		before := len(fp.sent)
		r := do(s, "POST", path, hdr, body)
		if r.status != wantStatus {
			t.Fatalf("POST %s %q = %d %s, want %d", path, body, r.status, r.body, wantStatus)
		}
		if wantStatus == 400 {
			var e struct {
				Error, Field string
				Line         int
			}
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" || e.Field != wantField || e.Line != wantLine {
				t.Fatalf("POST %s %q error body %s, want field %q line %d", path, body, r.body, wantField, wantLine)
			}
		}
		if wantStatus != 202 && len(fp.sent) != before {
			t.Fatalf("POST %s %q wrote %d events on status %d", path, body, len(fp.sent)-before, wantStatus)
		}
	}
	f("/v1/identify", auth, id("1"), 202, "", 0)                       // one JSON event
	f("/v1/identify", auth, id("2")+"\n"+id("3")+"\r\n\n", 202, "", 0) // NDJSON, CRLF, blank lines
	f("/v1/identify", nil, id("4"), 401, "", 0)                        // no key
	f("/v1/identify", map[string]string{"Authorization": "Bearer shop-key-3"}, id("4"), 401, "", 0)
	f("/v1/identify", map[string]string{"Authorization": "shop-key-1"}, id("4"), 401, "", 0) // not Bearer
	f("/v1/identify", auth, id("5")+"\n"+`{"v":1}`, 400, "event_id", 2)                      // second line bad: nothing written
	f("/v1/identify", auth, "", 400, "", 0)                                                  // empty body
	f("/v1/identify", auth, id("6")+"\n"+id("7")+"\n"+id("8")+"\n"+id("9"), 413, "", 0)      // over -max-events
	f("/v1/orders", auth, `{"v":1,"event_id":"o1","type":"order.placed","order_id":"A-1","at":"2026-01-02T03:04:05Z","currency":"EUR","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":"10.00"}]}`, 202, "", 0)
	f("/v1/orders", auth, `{"v":1,"event_id":"o2","type":"order.placed","order_id":"A-2","at":"2026-01-02T03:04:05Z","currency":"EUR","lines":[{"line_id":"l1","product_id":"p1","quantity":1,"unit_price":10.5}]}`, 400, "lines[0].unit_price", 1)
	// One event spread over lines (pretty-printed), LF or CRLF: DESIGN §4.2's
	// "one JSON event". Its errors are on line 1.
	f("/v1/orders", auth, `{
  "v": 1,
  "event_id": "o3",
  "type": "order.placed",
  "order_id": "A-3",
  "at": "2026-01-02T03:04:05Z",
  "currency": "EUR",
  "lines": [
    {"line_id": "l1", "product_id": "p1", "quantity": 1, "unit_price": "10.00"}
  ]
}
`, 202, "", 0)
	f("/v1/identify", auth, "{\r\n  \"v\": 1,\r\n  \"event_id\": \"e11\",\r\n  \"at\": \"2026-01-02T03:04:05Z\",\r\n  \"device_token\": \"tok\",\r\n  \"customer_id\": \"c1\"\r\n}", 202, "", 0)
	f("/v1/identify", auth, "{\n  \"v\": 1,\n  \"event_id\": \"e12\",\n  \"at\": \"yesterday\",\n  \"device_token\": \"tok\",\n  \"customer_id\": \"c1\"\n}", 400, "at", 1)
	f("/v1/identify", auth, "{\n  \"v\": 1,\n  \"event_id\": \"e13\",", 400, "", 1)             // cut short: not one event, and line 1 is no JSON
	f("/v1/identify", auth, "\n\n"+id("14")+"\n"+`{"v":1,"event_id":"e15"}`+"\n", 400, "at", 4) // NDJSON lines count from the body's start
	if len(fp.sent) != 6 {
		t.Fatalf("sent %d events, want 6", len(fp.sent))
	}
	if m := fp.sent[4]; m.Topic != "aff.orders" || string(m.Key) != "A-3" || bytes.ContainsAny(m.Value, "\n ") {
		t.Fatalf("pretty-printed order message = %s %s %s, want it re-encoded on one line", m.Topic, m.Key, m.Value)
	}
	if m := fp.sent[0]; m.Topic != "aff.identities" || string(m.Key) != "tok" || !bytes.Contains(m.Value, []byte(`"event_id":"e1"`)) {
		t.Fatalf("identity message = %s %s %s", m.Topic, m.Key, m.Value)
	}
	if m := fp.sent[3]; m.Topic != "aff.orders" || string(m.Key) != "A-1" {
		t.Fatalf("order message = %s %s %s", m.Topic, m.Key, m.Value)
	}
	fp.fail = true
	f("/v1/identify", auth, id("10"), 503, "", 0)
}

// An event larger than the producer can write (MaxMessageBytes: Kafka's
// max.message.bytes, less a margin) is refused with 413 naming its line,
// and nothing of the request is written: accepted, it would wait in the
// spool for a broker that never takes it.
func TestIngestEventTooLarge(t *testing.T) {
	s, fp := newTestServer(t)
	s.o.MaxMessageBytes = 200
	auth := map[string]string{"Authorization": "Bearer shop-key-1"}
	small := `{"v":1,"event_id":"e1","at":"2026-01-02T03:04:05Z","device_token":"tok","customer_id":"c1"}`
	large := `{"v":1,"event_id":"e2","at":"2026-01-02T03:04:05Z","device_token":"tok","customer_id":"c1","email":"` + strings.Repeat("a", 120) + `@shop.example"}`
	r := do(s, "POST", "/v1/identify", auth, small+"\n"+large)
	var e struct {
		Error string
		Line  int
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != 413 || e.Line != 2 || !strings.Contains(e.Error, "-kafka-batch-bytes") {
		t.Fatalf("POST with an event over MaxMessageBytes = %d %s, want 413 on line 2 naming -kafka-batch-bytes", r.status, r.body)
	}
	if len(fp.sent) != 0 {
		t.Fatalf("%d events written", len(fp.sent))
	}
	if r := do(s, "POST", "/v1/identify", auth, small); r.status != 202 {
		t.Fatalf("POST of a small event = %d %s, want 202", r.status, r.body)
	}
}

// Behind a proxy, the client address is the last of the configured
// header's: the proxy appends the address it saw to whatever the visitor
// sent. However long the visitor makes the header, the kept part is its
// end, cut at a comma.
func TestClientIPHeaderKeepsLastHop(t *testing.T) {
	s, fp := newTestServer(t)
	s.o.ClientIPHeader = "X-Forwarded-For"
	f := func(header, want string) {
		t.Helper()
		do(s, "GET", "/r/abc123", map[string]string{"X-Forwarded-For": header}, "")
		r := fp.clicks[len(fp.clicks)-1]
		if got := r.ClientAddr().Unmap().String(); got != want {
			t.Fatalf("X-Forwarded-For %.60q...: client %s, want %s (kept %q)", header, got, want, r.Forwarded)
		}
		if len(r.Forwarded) > click.MaxForwardedBytes {
			t.Fatalf("kept %d bytes of the header, over %d", len(r.Forwarded), click.MaxForwardedBytes)
		}
	}
	spoofed := strings.Repeat("1.2.3.4, ", 40) // 360 bytes the visitor chose
	f("198.51.100.9", "198.51.100.9")
	f("1.2.3.4, 198.51.100.9", "198.51.100.9")
	f(spoofed+"198.51.100.9", "198.51.100.9")
	f(spoofed+"2001:db8::7", "2001:db8::7")
	f(strings.Repeat("x", 300)+", 198.51.100.9", "198.51.100.9") // cut inside an entry: the rest of it is dropped
	f(strings.Repeat("9", 300), "203.0.113.77")                  // one entry too long to be an address: the peer
}

// benchRedirect measures the redirect handler with a request reused the way
// fasthttp reuses it between requests on a connection.
func benchRedirect(b *testing.B, uri, cookie string) {
	s, fp := newTestServer(b)
	fp.keep = false
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36")
	req.Header.Set("Referer", "https://blog.example/post")
	if cookie != "" {
		req.Header.Set("Cookie", "aff_dt="+cookie)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 77), Port: 5555}, nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != 302 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

func BenchmarkRedirectNewVisitor(b *testing.B) { benchRedirect(b, "/r/abc123", "") }

func BenchmarkRedirectReturningVisitor(b *testing.B) {
	signer, _ := devcookie.New([][]byte{secret})
	benchRedirect(b, "/r/abc123", string(signer.AppendNew(nil)))
}

func BenchmarkRedirectDeepLink(b *testing.B) {
	benchRedirect(b, "/serdar/products/shoes-42?color=red", "")
}

func BenchmarkRedirectUnknown(b *testing.B) { benchRedirect(b, "/r/unknown1", "") }

// BenchmarkBare is the baseline: a fixed 302 with Location and Set-Cookie,
// what tracker/bench/bare serves.
func BenchmarkBare(b *testing.B) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/r/abc123")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 77), Port: 5555}, nil)
	loc := []byte(shop + "/p/42?x=1")
	cookie := []byte("aff_dt=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA; Max-Age=34560000; Path=/; HttpOnly; SameSite=Lax")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		ctx.SetStatusCode(302)
		ctx.Response.Header.SetBytesV("Location", loc)
		ctx.Response.Header.SetBytesV("Set-Cookie", cookie)
	}
}
