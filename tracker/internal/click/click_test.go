package click

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/tracker/internal/links"
)

func newEncoder(t testing.TB) *Encoder {
	t.Helper()
	bots, err := NewBotDetector(1000)
	if err != nil {
		t.Fatal(err)
	}
	return &Encoder{Bots: bots, Repeats: NewRepeatTracker(time.Hour, 1000)}
}

var entry = &links.Entry{LinkID: "7", PartnerID: "1", Kind: "link", Target: "https://shop.example/p/42", ProductID: "42", CategoryID: "shoes", Attribute: true}

func record(token, ua, referer string, at time.Time) *Record {
	r := Get()
	r.At = at
	r.Entry = entry
	copy(r.Token[:], token)
	SetBytes(&r.UserAgent, []byte(ua), MaxUserAgentBytes)
	SetBytes(&r.Referer, []byte(referer), MaxRefererBytes)
	r.IP = netip.MustParseAddr("203.0.113.77")
	return r
}

const token = "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB"

func TestEncodeDecodes(t *testing.T) {
	e := newEncoder(t)
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	r := record(token, "Mozilla/5.0 (X11; Linux x86_64) Chrome/120", "https://blog.example/x", at)
	c, err := events.DecodeClick(e.Append(nil, r))
	if err != nil {
		t.Fatalf("DecodeClick(Append) = %v", err)
	}
	want := events.Click{ClickID: c.ClickID, At: at.Truncate(time.Microsecond), DeviceToken: token, PartnerID: "1", LinkID: "7",
		Kind: events.KindLink, Target: "https://shop.example/p/42", ProductID: "42", CategoryID: "shoes",
		Referer: "https://blog.example/x", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120",
		IP: netip.MustParseAddr("203.0.113.0")}
	if c != want {
		t.Fatalf("decoded click\n%+v, want\n%+v", c, want)
	}
	// Same device, same link, within the hour: a repeat.
	c2, _ := events.DecodeClick(e.Append(nil, record(token, "Mozilla/5.0", "", at.Add(time.Minute))))
	if !c2.Repeat || c2.ClickID == c.ClickID {
		t.Fatalf("second click: repeat=%v id %s (first %s)", c2.Repeat, c2.ClickID, c.ClickID)
	}
	// Deep link: kind deep, its own target.
	r3 := record(token, "Mozilla/5.0", "", at)
	SetBytes(&r3.Target, []byte("https://shop.example/p/1?a=b"), MaxTargetBytes)
	c3, _ := events.DecodeClick(e.Append(nil, r3))
	if c3.Kind != events.KindDeep || c3.Target != "https://shop.example/p/1?a=b" {
		t.Fatalf("deep click kind %q target %q", c3.Kind, c3.Target)
	}
}

func TestBots(t *testing.T) {
	d, _ := NewBotDetector(100)
	f := func(ua string, want bool) {
		t.Helper()
		for i := 0; i < 2; i++ { // second call is served by the cache
			if got := d.IsBot([]byte(ua)); got != want {
				t.Fatalf("IsBot(%q) = %v, want %v (call %d)", ua, got, want, i+1)
			}
		}
	}
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true)
	f("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true)
	f("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true)
	f("", true) // no user agent: a script, not a browser
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", false)
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", false)
}

func TestRepeat(t *testing.T) {
	r := NewRepeatTracker(time.Hour, 1000)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := func(dev, link string, at time.Time, want bool) {
		t.Helper()
		if got := r.Seen([]byte(dev), link, at); got != want {
			t.Fatalf("Seen(%s, %s, %v) = %v, want %v", dev, link, at, got, want)
		}
	}
	f("d1", "l1", t0, false)                     // first click
	f("d1", "l1", t0.Add(59*time.Minute), true)  // within the hour
	f("d1", "l2", t0.Add(59*time.Minute), false) // other link
	f("d2", "l1", t0.Add(59*time.Minute), false) // other device
	f("d1", "l1", t0.Add(3*time.Hour), false)    // window passed
}

func TestClientAddr(t *testing.T) {
	f := func(peer, fwd, want string) {
		t.Helper()
		r := &Record{IP: netip.MustParseAddr(peer), Forwarded: []byte(fwd)}
		if got := events.AnonymizeIP(r.ClientAddr()).String(); got != want {
			t.Fatalf("ClientAddr(peer %s, fwd %q) anonymised = %s, want %s", peer, fwd, got, want)
		}
	}
	f("10.0.0.1", "", "10.0.0.0")                             // no header: the peer
	f("10.0.0.1", "198.51.100.9", "198.51.100.0")             // one hop
	f("10.0.0.1", "1.2.3.4, 198.51.100.9", "198.51.100.0")    // the last hop is the proxy's view; the first is client-controlled
	f("10.0.0.1", "198.51.100.9, garbage", "198.51.100.0")    // invalid entries are skipped
	f("10.0.0.1", "junk", "10.0.0.0")                         // nothing valid: the peer
	f("10.0.0.1", "2001:db8:1234:5678::1", "2001:db8:1234::") // IPv6 /48
	f("::ffff:192.0.2.55", "", "192.0.2.0")                   // mapped IPv4
}

// SetForwarded keeps the end of a long header, whole entries only: the
// entry the trusted proxy appended survives whatever the visitor sent.
func TestSetForwarded(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		var dst []byte
		SetForwarded(&dst, []byte(src))
		if string(dst) != want {
			t.Fatalf("SetForwarded(%q) = %q, want %q", src, dst, want)
		}
	}
	long := strings.Repeat("1.2.3.4, ", 40) // 360 bytes
	f("", "")
	f("1.2.3.4, 198.51.100.9", "1.2.3.4, 198.51.100.9")                                // short: all of it
	f(long+"198.51.100.99", strings.Repeat(" 1.2.3.4,", 26)+" 198.51.100.99")          // cut inside an entry: the whole entries after it
	f("1.2.3.4,"+strings.Repeat("x", 250)+",5.6.7", strings.Repeat("x", 250)+",5.6.7") // cut right after a comma: all 256 bytes after it
	f(strings.Repeat("x", 300), "")                                                    // one entry longer than the limit: nothing
}

func FuzzEncode(f *testing.F) {
	e := newEncoder(f)
	f.Add("Mozilla/5.0", "https://ref.example/", "1.2.3.4")
	f.Add("\xff\xfe\x00bot", "\n\r\t\"\\", "2001:db8::1, x")
	f.Add(strings.Repeat("é", 400), strings.Repeat("\xe2\x82", 900), "")
	f.Fuzz(func(t *testing.T, ua, ref, fwd string) {
		r := record(token, ua, ref, time.Now())
		SetForwarded(&r.Forwarded, []byte(fwd))
		if _, err := events.DecodeClick(e.Append(nil, r)); err != nil {
			t.Fatalf("click with ua %q referer %q fwd %q does not decode: %v", ua, ref, fwd, err)
		}
		Put(r)
	})
}

func BenchmarkEncode(b *testing.B) {
	e := newEncoder(b)
	r := record(token, "Mozilla/5.0 (X11; Linux x86_64) Chrome/120", "https://blog.example/x", time.Now())
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], r)
	}
}

// The repeat flag against a brute-force answer over random clicks: with room
// for every pair it is exact; in a table far too small it may miss repeats
// (evicted pairs) but never flags a click that is not a repeat.
func TestRepeatAgainstBruteForce(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, size := range []int{1 << 16, 16} {
		r := NewRepeatTracker(time.Hour, size)
		rng := rand.New(rand.NewPCG(7, uint64(size)))
		last := map[[2]string]time.Time{}
		at := t0
		missed, repeats := 0, 0
		for i := range 20000 {
			at = at.Add(time.Duration(rng.IntN(int(2 * time.Second))))
			if rng.IntN(50) == 0 {
				at = at.Add(-time.Duration(rng.IntN(int(time.Minute)))) // out of order
			}
			dev, link := fmt.Sprintf("d%d", rng.IntN(300)), fmt.Sprintf("l%d", rng.IntN(4))
			prev, ok := last[[2]string{dev, link}]
			want := ok && at.Sub(prev) <= time.Hour && !at.Before(prev)
			last[[2]string{dev, link}] = at
			got := r.Seen([]byte(dev), link, at)
			if want {
				repeats++
			}
			switch {
			case got && !want:
				t.Fatalf("table of %d, click %d (%s, %s at %v, before %v): flagged, not a repeat", size, i, dev, link, at, prev)
			case want && !got && size > 1000:
				t.Fatalf("table of %d, click %d (%s, %s at %v, before %v): repeat not flagged", size, i, dev, link, at, prev)
			case want && !got:
				missed++
			}
		}
		if repeats < 10000 {
			t.Fatalf("only %d repeats in the random clicks: the test checks little", repeats)
		}
		if size == 16 && missed == 0 {
			t.Fatal("a table of 16 slots for 1200 pairs missed no repeat: is it bounded?")
		}
	}
}

// BenchmarkRepeatSeen: new visitors (a new device per click, as under the
// load benchmark) on 20 links, with the tracker's default table of 1<<20
// pairs, from as many goroutines as GOMAXPROCS.
func BenchmarkRepeatSeen(b *testing.B) {
	r := NewRepeatTracker(time.Hour, 1<<20)
	t0 := time.Now()
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		dev := make([]byte, 44)
		for pb.Next() {
			n := next.Add(1)
			binary.LittleEndian.PutUint64(dev, n)
			r.Seen(dev, links20[n%20], t0.Add(time.Duration(n)*time.Microsecond))
		}
	})
}

var links20 = func() (l []string) {
	for i := range 20 {
		l = append(l, fmt.Sprintf("link%d", i))
	}
	return l
}()
