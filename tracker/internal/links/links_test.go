package links

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/events"
)

func TestCheckTarget(t *testing.T) {
	shop, _ := url.Parse("https://shop.example")
	p := Policy{ShopURL: shop, AllowedHosts: []string{"shop.example", "cdn.shop.example"}}
	f := func(raw string, want bool) {
		t.Helper()
		if why, ok := p.CheckTarget(raw); ok != want {
			t.Fatalf("CheckTarget(%q) = %v (%s), want %v", raw, ok, why, want)
		}
	}
	f("https://shop.example/p/42?x=1", true)
	f("http://shop.example", true)
	f("https://SHOP.example/p", true)              // host names are case-insensitive
	f("https://shop.example:8443/p", true)         // a port on an allowed host
	f("https://cdn.shop.example/a", true)          // another allowed host
	f("https://evil.example/", false)              // not allowed
	f("https://shop.example.evil.example/", false) // suffix trick
	f("https://evil.example/shop.example", false)  // allowed host in the path
	f("https://shop.example@evil.example/", false) // userinfo trick
	f("https://user:pw@shop.example/", false)      // any userinfo
	f("//shop.example/p", false)                   // scheme-relative
	f("/p/42", false)                              // relative
	f("javascript:alert(1)", false)
	f("data:text/html,hi", false)
	f("https:shop.example", false)                  // opaque, no host
	f("https://shop.example\\@evil.example", false) // backslash
	f("https://shop.example/\r\nSet-Cookie:x", false)
	f("https://shop.example/a b", false)
	f("https://shоp.example/", false) // Cyrillic о: not the allowed host
	f("https://xn--shp-kqd.example/", false)
	f("https://evil.example%2f@shop.example/", false)
	f("ftp://shop.example/", false)
	f("", false)
}

func FuzzCheckTarget(f *testing.F) {
	shop, _ := url.Parse("https://shop.example")
	p := Policy{ShopURL: shop, AllowedHosts: []string{"shop.example"}}
	f.Add("https://shop.example/p")
	f.Add("https://shop.example@evil.example/")
	f.Add("//evil.example")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, ok := p.CheckTarget(raw); !ok {
			return
		}
		// Whatever passes must be, for a browser too, on the allowed host.
		u, err := url.Parse(raw)
		if err != nil || u.User != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("CheckTarget(%q) accepted %+v", raw, u)
		}
		for i := 0; i < len(raw); i++ {
			if raw[i] <= ' ' || raw[i] == '\\' || raw[i] >= 0x7f {
				t.Fatalf("CheckTarget(%q) accepted byte %q", raw, raw[i])
			}
		}
	})
}

func TestSnapshotLookups(t *testing.T) {
	e := &Entry{LinkID: "1", PartnerID: "2", Kind: "link", Target: "https://shop.example/p", Attribute: true}
	c := NewStatic(map[string]*Entry{"abcd": e}, map[string]*Entry{"serdar": e})
	s := c.Load()
	if s.Code([]byte("abcd")) != e || s.Code([]byte("ABCD")) != nil || s.Slug([]byte("serdar")) != e || s.Slug([]byte("x")) != nil {
		t.Fatal("snapshot lookups wrong")
	}
	if n, m := s.Len(); n != 1 || m != 1 {
		t.Fatalf("Len() = %d, %d", n, m)
	}
}

// A link whose product or category id the click event cannot carry (over
// events.MaxIDLen bytes, control characters; the dashboard and Postgres
// allow 200 characters) still records clicks, without that id: the click
// must decode, or the sink sends it to the dlq and its orders are never
// attributed. The drop is logged once per link, not at every publish.
func TestLinkIDsTheEventRefusesAreDropped(t *testing.T) {
	shop, _ := url.Parse("https://shop.example")
	var logs bytes.Buffer
	dropped := -1
	l := &Loader{
		opts: Options{
			Policy: Policy{ShopURL: shop, AllowedHosts: []string{"shop.example"}},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			OnSync: func(_, _, _, droppedIDs int) { dropped = droppedIDs },
		},
		cache:    &Cache{},
		partners: map[string]partnerRow{"1": {id: "1", slug: "serdar", active: true}},
		links:    map[string]linkRow{},
	}
	long := strings.Repeat("p", 150)
	add := func(id, product, category string) {
		l.links[id] = linkRow{id: id, code: "c" + id, partnerID: "1", kind: "link", target: "https://shop.example/p", productID: product, categoryID: category, active: true}
	}
	add("1", long, "")                                   // 150 bytes: over MaxIDLen
	add("2", "", "shoes\x85")                            // C1 control character
	add("3", "p\x01", "")                                // C0 control character
	add("4", strings.Repeat("é", 64), "")                // 128 bytes: fits
	add("5", "42", strings.Repeat("c", events.MaxIDLen)) // fits
	l.publish()
	l.publish() // logged once per link, not per publish

	f := func(code, wantProduct, wantCategory string) {
		t.Helper()
		e := l.cache.Load().Code([]byte(code))
		if e == nil || !e.Attribute {
			t.Fatalf("link %s: entry %+v, want one that records clicks", code, e)
		}
		if e.ProductID != wantProduct || e.CategoryID != wantCategory {
			t.Fatalf("link %s: product %q category %q, want %q %q", code, e.ProductID, e.CategoryID, wantProduct, wantCategory)
		}
		c := events.Click{ClickID: "0190b3a0-0000-7000-8000-000000000000", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			DeviceToken: "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB", PartnerID: e.PartnerID, LinkID: e.LinkID,
			Kind: events.LinkKind(e.Kind), Target: e.Target, ProductID: e.ProductID, CategoryID: e.CategoryID}
		if _, err := events.DecodeClick(events.AppendClick(nil, &c)); err != nil {
			t.Fatalf("link %s: its click does not decode: %v", code, err)
		}
	}
	f("c1", "", "")
	f("c2", "", "")
	f("c3", "", "")
	f("c4", strings.Repeat("é", 64), "")
	f("c5", "42", strings.Repeat("c", events.MaxIDLen))
	if n := strings.Count(logs.String(), "id dropped"); n != 3 || dropped != 3 {
		t.Fatalf("%d log lines about dropped ids, OnSync reported %d; want 3 and 3:\n%s", n, dropped, logs.String())
	}
}

// eventID agrees with pkg/events: an id it accepts goes through a click
// event unchanged; one it refuses would not (refused by the decoder, or
// changed by the encoder).
func FuzzEventID(f *testing.F) {
	f.Add("42")
	f.Add(strings.Repeat("p", 129))
	f.Add("shoes\u0085")
	f.Add("\xff")
	f.Add(strings.Repeat("é", 64))
	f.Fuzz(func(t *testing.T, id string) {
		c := events.Click{ClickID: "0190b3a0-0000-7000-8000-000000000000", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			DeviceToken: "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB", PartnerID: "1", LinkID: "2",
			Kind: events.KindLink, Target: "https://shop.example/", ProductID: id}
		got, err := events.DecodeClick(events.AppendClick(nil, &c))
		if carried := err == nil && got.ProductID == id; carried != eventID(id) {
			t.Fatalf("eventID(%q) = %v, but the event carries it: %v (%v)", id, eventID(id), carried, err)
		}
	})
}
