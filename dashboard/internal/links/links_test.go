package links

import "testing"

func TestCheckTarget(t *testing.T) {
	m := Maker{AllowedHosts: []string{"shop.example"}, TrackerBase: "https://t.example"}
	f := func(in string, ok bool) {
		t.Helper()
		_, err := m.CheckTarget(in)
		if (err == nil) != ok {
			t.Errorf("CheckTarget(%q) error = %v, want ok=%v", in, err, ok)
		}
	}
	f("https://shop.example/p/1", true)
	f("https://SHOP.example/p/1", true)            // host is case-insensitive
	f("https://evil.example/p/1", false)           // not allowed: no open redirect
	f("https://shop.example.evil.example/", false) // suffix trick
	f("https://user@shop.example/", false)         // userinfo is a phishing trick
	f("javascript:alert(1)", false)
	f("//shop.example/x", false) // scheme-relative
	f("", false)
}

func TestParsePercent(t *testing.T) {
	f := func(in string, want int64, ok bool) {
		t.Helper()
		got, err := ParsePercent(in)
		if (err == nil) != ok || got != want {
			t.Errorf("ParsePercent(%q) = %d, %v, want %d ok=%v", in, got, err, want, ok)
		}
	}
	f("10", 10000000, true)
	f("12.5", 12500000, true)
	f("0.000001", 1, true)
	f("0.0000001", 0, false) // finer than one micro-percent
	f("100", 100000000, true)
	f("101", 0, false)
	f("-1", 0, false)
	f("ten", 0, false)
	if got := FormatRate(12500000); got != "12.5" {
		t.Errorf("FormatRate(12500000) = %q, want 12.5", got)
	}
}

func FuzzParsePercent(f *testing.F) {
	f.Add("10")
	f.Add("12.345")
	f.Fuzz(func(t *testing.T, s string) {
		ppm, err := ParsePercent(s)
		if err != nil {
			return
		}
		if ppm < 0 || ppm > 100000000 {
			t.Fatalf("ParsePercent(%q) = %d out of range", s, ppm)
		}
		back, err := ParsePercent(FormatRate(ppm))
		if err != nil || back != ppm {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, ppm, FormatRate(ppm), back, err)
		}
	})
}
