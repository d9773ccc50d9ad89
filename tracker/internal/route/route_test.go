package route

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f := func(path string, wantKind Kind, wantKey, wantRest string) {
		t.Helper()
		kind, key, rest := Parse([]byte(path))
		if kind != wantKind || string(key) != wantKey || string(rest) != wantRest {
			t.Fatalf("Parse(%q) = %v, %q, %q; want %v, %q, %q", path, kind, key, rest, wantKind, wantKey, wantRest)
		}
	}
	// Generated links.
	f("/r/abc123", Code, "abc123", "")
	f("/r/AbC-_9", Code, "AbC-_9", "")
	f("/r/", Unknown, "", "")        // empty code
	f("/r", Unknown, "", "")         // "r" is reserved, never a slug
	f("/r/abc/def", Unknown, "", "") // codes have one segment
	f("/r/ab%63", Unknown, "", "")   // encoded characters never form a code
	f("/r/"+strings.Repeat("a", 65), Unknown, "", "")
	// Partner slugs and deep links.
	f("/serdar", Slug, "serdar", "")
	f("/serdar/", Slug, "serdar", "")
	f("/serdar/products/42", Deep, "serdar", "/products/42")
	f("/serdar/p/a%20b", Deep, "serdar", "/p/a%20b")
	f("/serdar//evil.com", Slug, "serdar", "")      // empty segment: unsafe rest dropped
	f("/serdar/\\evil.com", Slug, "serdar", "")     // backslash
	f("/serdar/../admin", Slug, "serdar", "")       // dot segment
	f("/serdar/%2F%2Fevil.com", Slug, "serdar", "") // encoded slash
	f("/serdar/%2e%2e/x", Slug, "serdar", "")       // encoded dots
	f("/ser.dar", Unknown, "", "")                  // not a slug character
	f("/%73erdar", Unknown, "", "")                 // encoded slug
	f("/sérdar", Unknown, "", "")                   // non-ASCII
	f("//evil.com", Unknown, "", "")                // empty first segment
	f("/\\evil.com", Unknown, "", "")
	f("/https:evil.com", Unknown, "", "")
	f("/user@evil.com", Unknown, "", "")
	f("/", Unknown, "", "")
	f("", Unknown, "", "")
	f("serdar", Unknown, "", "")
	// Endpoints and reserved segments.
	f("/v1/identify", Identify, "", "")
	f("/v1/orders", Orders, "", "")
	f("/v1/other", Reserved, "", "")
	f("/v1", Reserved, "", "")
	f("/healthz", Healthz, "", "")
	f("/healthz/x", Reserved, "", "")
	f("/metrics", Metrics, "", "")
	f("/static/app.css", Reserved, "", "")
	f("/static", Reserved, "", "")
}

func TestReservedNeverSlugs(t *testing.T) {
	for _, seg := range []string{"r", "v1", "healthz", "metrics", "static"} {
		for _, p := range []string{"/" + seg, "/" + seg + "/", "/" + seg + "/x/y"} {
			if k, _, _ := Parse([]byte(p)); k == Slug || k == Deep {
				t.Fatalf("Parse(%q) = %v, want a reserved kind", p, k)
			}
		}
	}
}

func TestValidDeepPath(t *testing.T) {
	f := func(p string, want bool) {
		t.Helper()
		if got := ValidDeepPath([]byte(p)); got != want {
			t.Fatalf("ValidDeepPath(%q) = %v, want %v", p, got, want)
		}
	}
	f("/a", true)
	f("/a/b/", true)                 // trailing slash kept
	f("/p/red%20shoes", true)        // encoded space
	f("/p/x;y=1,z:@", true)          // sub-delims
	f("/p/caf%C3%A9", true)          // encoded UTF-8 is just bytes on the shop
	f("/", false)                    // nothing after the slug separator
	f("//evil.com", false)           // protocol-relative
	f("/a//b", false)                // empty segment
	f("/\\evil.com", false)          // backslash, read as '/' by browsers
	f("/a/./b", false)               // dot segment
	f("/a/..", false)                // dot segment at the end
	f("/%2e%2E/x", false)            // encoded dots
	f("/%5cevil.com", false)         // encoded backslash
	f("/%2fevil.com", false)         // encoded slash
	f("/a%0d%0aSet-Cookie:x", false) // header injection
	f("/a\r\nX: y", false)           // raw CRLF
	f("/a b", false)                 // raw space
	f("/a%", false)                  // truncated escape
	f("/a%4", false)                 // truncated escape
	f("/a%zz", false)                // bad hex
	f("/a%2541", false)              // double encoding
	f("/é", false)                   // raw non-ASCII
	f("/\u2215evil.com", false)      // unicode division slash
	f("/\uff0fevil.com", false)      // fullwidth solidus
	f("/a#frag", false)              // fragments are the browser's
	f("/"+strings.Repeat("a", MaxDeepPathLen), false)
}

func TestValidQuery(t *testing.T) {
	f := func(q string, want bool) {
		t.Helper()
		if got := ValidQuery([]byte(q)); got != want {
			t.Fatalf("ValidQuery(%q) = %v, want %v", q, got, want)
		}
	}
	f("", true)
	f("color=red&size=42", true)
	f("next=/a/b?c", true)
	f("q=%E2%82%AC", true)
	f("a=b\r\nX: y", false)
	f("a=%zz", false)
	f("a=<script>", false)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/r/abc", "/serdar", "/serdar/p/1", "//evil.com", "/v1/orders", "/serdar/%2f", "/\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		kind, key, rest := Parse([]byte(path))
		switch kind {
		case Code, Slug, Deep:
			if !ValidKey(key) {
				t.Fatalf("Parse(%q) key %q is not valid", path, key)
			}
		}
		if kind == Deep {
			if !ValidDeepPath(rest) || rest[0] != '/' || strings.Contains(string(rest), "//") ||
				strings.ContainsAny(string(rest), "\\\r\n ") {
				t.Fatalf("Parse(%q) rest %q is unsafe", path, rest)
			}
		} else if rest != nil {
			t.Fatalf("Parse(%q) = %v with rest %q", path, kind, rest)
		}
	})
}

func FuzzValidKey(f *testing.F) {
	f.Add("serdar")
	f.Add("a-b_c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, k string) {
		if !ValidKey([]byte(k)) {
			return
		}
		if strings.ContainsAny(k, "/\\.%@:?# ") || len(k) == 0 || len(k) > MaxKeyLen {
			t.Fatalf("ValidKey(%q) = true", k)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	p := []byte("/serdar/products/shoes-42")
	b.ReportAllocs()
	for b.Loop() {
		if k, _, _ := Parse(p); k != Deep {
			b.Fatal(k)
		}
	}
}
