package sim

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

func TestLine(t *testing.T) {
	eur := money.MustParseCurrency("EUR")
	f := func(c Counts, s *Settled, want string) {
		t.Helper()
		if got := Line(c, s, eur); got != want {
			t.Fatalf("Line(%+v, %+v) =\n%q, want\n%q", c, s, got, want)
		}
	}
	c := Counts{Clicks: 120, BotClicks: 9, Logins: 40, Orders: 30, OrdersViaKafka: 8, Delivered: 20, Cancelled: 3,
		Refunds: 2, Elapsed: 65*time.Second + 400*time.Millisecond}
	// Without a settled source: only what was sent.
	f(c, nil, "1m5s sent: 120 clicks (9 bots) 40 logins 30 orders (8 via Kafka) 20 delivered 3 cancelled 2 refunds")
	// Errors are shown only when there are some; amounts in the currency's minor unit.
	c.Errors = 4
	f(c, &Settled{Orders: 29, Attributed: 20, Pending: 11, PendingMinor: 12345, Approved: 7, ApprovedMinor: 990},
		"1m5s sent: 120 clicks (9 bots) 40 logins 30 orders (8 via Kafka) 20 delivered 3 cancelled 2 refunds 4 errors"+
			" | settled: 29 orders, 20 credited, 11 pending 123.45, 7 approved 9.90 EUR")
}

func TestFit(t *testing.T) {
	f := func(s string, width int, want string) {
		t.Helper()
		if got := fit(s, width); got != want {
			t.Fatalf("fit(%q, %d) = %q, want %q", s, width, got, want)
		}
	}
	f("abcdef", 0, "abcdef")  // unknown width: untouched
	f("abcdef", 10, "abcdef") // fits
	f("abcdef", 7, "abcdef")  // one column spare (the cursor)
	f("abcdef", 6, "abcd~")   // cut, marked
	f("abcdef", 1, "abcdef")  // nonsense width: untouched
}

// TestProgressPlainLines: not a terminal, so one plain line per interval
// and a last one at the end, never a carriage return.
func TestProgressPlainLines(t *testing.T) {
	r, err := New(Config{TrackerURL: "http://127.0.0.1:1", ShopKey: "k", Links: testLinks, Currency: money.MustParseCurrency("EUR"), Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	reads := 0
	settled := func(context.Context) (Settled, error) {
		reads++
		return Settled{Orders: int64(reads)}, nil
	}
	Progress(ctx, &buf, r, settled, 100*time.Millisecond)
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.Contains(out, "\r") || len(lines) < 3 || len(lines) != reads {
		t.Fatalf("got %d lines for %d reads:\n%s", len(lines), reads, out)
	}
	if want := "settled: " + strconv.Itoa(reads) + " orders"; !strings.Contains(lines[len(lines)-1], want) {
		t.Fatalf("last line lacks %q: %s", want, lines[len(lines)-1])
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	eur := money.MustParseCurrency("EUR")
	ok := Config{TrackerURL: "http://127.0.0.1:8080", ShopKey: "k", Links: testLinks, Currency: eur, Rate: 5}
	f := func(mod func(*Config), want string) {
		t.Helper()
		c := ok
		mod(&c)
		r, err := New(c)
		if err == nil {
			r.Close()
			t.Fatalf("New(%+v) = nil error, want one with %q", c, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("New: %v, want %q", err, want)
		}
	}
	f(func(c *Config) { c.Links = nil }, "no links")
	f(func(c *Config) { c.Rate = 0 }, "rate")
	f(func(c *Config) { c.Currency = money.Currency{} }, "currency")
	f(func(c *Config) { c.TrackerURL = "127.0.0.1:8080" }, "not an http")
	f(func(c *Config) { c.Links = []Link{{URL: "/r/abc"}} }, "not an absolute URL")
	r, err := New(ok)
	if err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	r.Close()
}
