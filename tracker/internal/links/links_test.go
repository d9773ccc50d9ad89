package links

import (
	"net/url"
	"testing"
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
