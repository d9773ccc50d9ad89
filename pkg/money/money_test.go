package money

import (
	"errors"
	"math"
	"testing"

	"github.com/bojanz/currency"
)

var (
	eur = MustParseCurrency("EUR")
	jpy = MustParseCurrency("JPY")
	kwd = MustParseCurrency("KWD")
	clf = MustParseCurrency("CLF")
)

func TestParseCurrency(t *testing.T) {
	ok := func(code string, exp int) {
		t.Helper()
		c, err := ParseCurrency(code)
		if err != nil {
			t.Fatalf("ParseCurrency(%q) error %v", code, err)
		}
		if c.Code() != code || c.Exponent() != exp || c.IsZero() {
			t.Fatalf("ParseCurrency(%q) = %s/%d, want %s/%d", code, c.Code(), c.Exponent(), code, exp)
		}
	}
	ok("EUR", 2)
	ok("USD", 2)
	ok("JPY", 0) // no minor unit
	ok("KRW", 0)
	ok("KWD", 3) // fils
	ok("BHD", 3)
	ok("TND", 3)
	ok("CLF", 4) // the largest ISO exponent
	// ISO exponents where CLDR's display digits (x/text) say 0: the
	// reason we do not use golang.org/x/text/currency.
	ok("IQD", 3)
	ok("IDR", 2)
	ok("RSD", 2)
	ok("COP", 2)
	// Currencies introduced after CLDR 32 (missing from x/text).
	ok("VES", 2)
	ok("SLE", 2)
	ok("ZWG", 2)
	ok("MRU", 2)

	bad := func(code string) {
		t.Helper()
		if _, err := ParseCurrency(code); !errors.Is(err, ErrUnknownCurrency) {
			t.Fatalf("ParseCurrency(%q) error %v, want ErrUnknownCurrency", code, err)
		}
	}
	bad("")
	bad("eur")  // lower case: codes are exact
	bad("EURO") // too long
	bad("EU")
	bad("ABC") // well-formed, not a currency
	bad("HRK") // withdrawn in 2023
	bad("XAU") // gold: no ISO minor unit
	bad("XXX") // "no currency"
	bad("XTS") // test code
	bad("E\x00R")
	bad("ÉUR")
}

func TestCurrencyText(t *testing.T) {
	var c Currency
	if err := c.UnmarshalText([]byte("KWD")); err != nil || c != kwd {
		t.Fatalf("UnmarshalText(KWD) = %v, %v", c, err)
	}
	if err := c.UnmarshalText([]byte("kwd")); err == nil {
		t.Fatalf("UnmarshalText(kwd) accepted")
	}
	b, err := kwd.MarshalText()
	if err != nil || string(b) != "KWD" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	if _, err := (Currency{}).MarshalText(); err == nil {
		t.Fatalf("MarshalText of zero currency succeeded")
	}
}

func TestParse(t *testing.T) {
	f := func(cur Currency, s string, want int64) {
		t.Helper()
		got, err := Parse(cur, s)
		if err != nil || got != want {
			t.Fatalf("Parse(%s, %q) = %d, %v; want %d", cur, s, got, err, want)
		}
	}
	f(eur, "149.90", 14990)
	f(eur, "149.9", 14990) // fewer digits than the exponent
	f(eur, "149", 14900)
	f(eur, "0", 0)
	f(eur, "0.01", 1)
	f(eur, "007.50", 750)   // leading zeros are harmless
	f(eur, "1.000", 100)    // extra zeros are exact, so accepted
	f(jpy, "1000", 1000)    // JPY has no minor unit
	f(jpy, "1000.00", 1000) // shops that always print two decimals
	f(kwd, "1.234", 1234)   // three-digit minor unit
	f(clf, "0.0001", 1)     // four-digit minor unit
	f(eur, "92233720368547758.07", math.MaxInt64)
	f(jpy, "9223372036854775807", math.MaxInt64)
}

func TestParseErrors(t *testing.T) {
	f := func(cur Currency, s string, want error) {
		t.Helper()
		got, err := Parse(cur, s)
		if !errors.Is(err, want) {
			t.Fatalf("Parse(%s, %q) = %d, %v; want error %v", cur, s, got, err, want)
		}
	}
	f(eur, "", ErrSyntax)
	f(eur, "1.001", ErrTooPrecise)
	f(jpy, "1.5", ErrTooPrecise)
	f(kwd, "1.2345", ErrTooPrecise)
	f(eur, "-1", ErrNegative) // Parse is for non-negative amounts
	f(eur, "+1", ErrSyntax)
	f(eur, "1e3", ErrSyntax) // float with exponent
	f(eur, "1E3", ErrSyntax)
	f(eur, "1.5e2", ErrSyntax)
	f(eur, " 1", ErrSyntax)
	f(eur, "1 ", ErrSyntax)
	f(eur, "1 000", ErrSyntax)
	f(eur, "1,000.00", ErrSyntax) // thousands separator
	f(eur, "1,5", ErrSyntax)      // decimal comma
	f(eur, "1_000", ErrSyntax)
	f(eur, ".5", ErrSyntax)
	f(eur, "5.", ErrSyntax)
	f(eur, ".", ErrSyntax)
	f(eur, "-", ErrNegative) // the sign is checked first
	f(eur, "1..2", ErrSyntax)
	f(eur, "0x10", ErrSyntax)
	f(eur, "NaN", ErrSyntax)
	f(eur, "Inf", ErrSyntax)
	f(eur, "１", ErrSyntax) // full-width digit
	f(eur, "92233720368547758.08", ErrOverflow)
	f(jpy, "9223372036854775808", ErrOverflow)
	f(eur, "99999999999999999999", ErrOverflow)
	f(eur, "1"+string(make([]byte, 40)), ErrSyntax) // over MaxDecimalLen
}

func TestParseSigned(t *testing.T) {
	f := func(s string, want int64) {
		t.Helper()
		got, err := ParseSigned(eur, s)
		if err != nil || got != want {
			t.Fatalf("ParseSigned(EUR, %q) = %d, %v; want %d", s, got, err, want)
		}
	}
	f("-0.50", -50)
	f("-0", 0)
	f("12.3", 1230)
	f("-92233720368547758.07", -math.MaxInt64)
	for _, s := range []string{"--1", "-+1", "+1", "-", "-.5", "-92233720368547758.08"} {
		if v, err := ParseSigned(eur, s); err == nil {
			t.Fatalf("ParseSigned(EUR, %q) = %d, want error", s, v)
		}
	}
}

func TestFormat(t *testing.T) {
	f := func(cur Currency, v int64, want string) {
		t.Helper()
		if got := Format(cur, v); got != want {
			t.Fatalf("Format(%s, %d) = %q, want %q", cur, v, got, want)
		}
	}
	f(eur, 14990, "149.90")
	f(eur, -50, "-0.50")
	f(eur, 0, "0.00")
	f(eur, 1, "0.01")
	f(jpy, 1000, "1000")
	f(jpy, -7, "-7")
	f(kwd, 1234, "1.234")
	f(kwd, 5, "0.005")
	f(clf, 10001, "1.0001")
	f(eur, math.MaxInt64, "92233720368547758.07")
	f(eur, math.MinInt64, "-92233720368547758.08") // formats, though Parse never yields it
}

func TestMulQty(t *testing.T) {
	f := func(u, q, want int64, wantErr bool) {
		t.Helper()
		got, err := MulQty(u, q)
		if (err != nil) != wantErr || got != want {
			t.Fatalf("MulQty(%d, %d) = %d, %v; want %d, err=%v", u, q, got, err, want, wantErr)
		}
		if wantErr && !errors.Is(err, ErrOverflow) {
			t.Fatalf("MulQty(%d, %d) error %v, want ErrOverflow", u, q, err)
		}
	}
	f(14990, 3, 44970, false)
	f(0, math.MaxInt64, 0, false)
	f(-5, 2, -10, false)
	f(math.MaxInt64, 1, math.MaxInt64, false)
	f(math.MaxInt64, 2, 0, true)
	f(math.MaxInt64/2+1, 2, 0, true)
	f(1<<32, 1<<31, 0, true)      // exactly 2^63
	f(-(1 << 32), 1<<31, 0, true) // -2^63 is outside the symmetric range
	f(math.MinInt64, 1, 0, true)
	f(-1, math.MinInt64, 0, true)
	f(3037000500, 3037000500, 0, true)
}

func TestAddSub(t *testing.T) {
	if v, err := Add(1, 2); v != 3 || err != nil {
		t.Fatalf("Add(1, 2) = %d, %v", v, err)
	}
	for _, c := range [][2]int64{{math.MaxInt64, 1}, {-math.MaxInt64, -1}, {math.MinInt64, 0}} {
		if _, err := Add(c[0], c[1]); !errors.Is(err, ErrOverflow) {
			t.Fatalf("Add(%d, %d) error %v, want ErrOverflow", c[0], c[1], err)
		}
	}
	if v, err := Sub(10, 25); v != -15 || err != nil {
		t.Fatalf("Sub(10, 25) = %d, %v", v, err)
	}
	if _, err := Sub(0, math.MinInt64); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Sub(0, MinInt64) error %v", err)
	}
	if _, err := Sub(-math.MaxInt64, 1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Sub(-MaxInt64, 1) error %v", err)
	}
}

func TestParseRate(t *testing.T) {
	f := func(s string, want Rate, str string) {
		t.Helper()
		got, err := ParseRate(s)
		if err != nil || got != want {
			t.Fatalf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
		if got.String() != str {
			t.Fatalf("ParseRate(%q).String() = %q, want %q", s, got.String(), str)
		}
	}
	f("10", 10_000_000, "10")
	f("12.345", 12_345_000, "12.345") // the brief's example is exact
	f("12.345678", 12_345_678, "12.345678")
	f("0", 0, "0")
	f("100", MaxRate, "100")
	f("100.000000000", MaxRate, "100")
	f("0.000001", 1, "0.000001") // the finest step
	f("7.50", 7_500_000, "7.5")

	bad := func(s string, want error) {
		t.Helper()
		if r, err := ParseRate(s); !errors.Is(err, want) {
			t.Fatalf("ParseRate(%q) = %d, %v; want %v", s, r, err, want)
		}
	}
	bad("100.000001", ErrRateRange)
	bad("101", ErrRateRange)
	bad("99999999999999999999", ErrRateRange)
	bad("-1", ErrNegative)
	bad("0.0000001", ErrTooPrecise)
	bad("10%", ErrSyntax)
	bad("1e1", ErrSyntax)
	bad("", ErrSyntax)
}

func TestRateText(t *testing.T) {
	var r Rate
	if err := r.UnmarshalText([]byte("12.5")); err != nil || r != 12_500_000 {
		t.Fatalf("UnmarshalText(12.5) = %d, %v", r, err)
	}
	if b, err := r.MarshalText(); err != nil || string(b) != "12.5" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	if _, err := Rate(-1).MarshalText(); err == nil {
		t.Fatalf("MarshalText(-1) succeeded")
	}
	if Percent(90) != 90*RateScale {
		t.Fatalf("Percent(90) = %d", Percent(90))
	}
}

func TestApplyRate(t *testing.T) {
	f := func(base int64, rate string, want int64) {
		t.Helper()
		r, err := ParseRate(rate)
		if err != nil {
			t.Fatal(err)
		}
		if got := ApplyRate(base, r); got != want {
			t.Fatalf("ApplyRate(%d, %s%%) = %d, want %d", base, rate, got, want)
		}
	}
	f(14990, "10", 1499)
	f(5, "10", 0)    // 0.5 → 0 (even)
	f(15, "10", 2)   // 1.5 → 2 (even)
	f(25, "10", 2)   // 2.5 → 2 (even)
	f(35, "10", 4)   // 3.5 → 4
	f(-15, "10", -2) // symmetric for negatives
	f(-25, "10", -2)
	f(26, "10", 3)         // 2.6 → 3
	f(24, "10", 2)         // 2.4 → 2
	f(1000, "12.345", 123) // 123.45 → 123
	f(1001, "12.345", 124) // 123.57345 → 124
	f(math.MaxInt64, "100", math.MaxInt64)
	f(math.MinInt64, "100", math.MinInt64)
	f(math.MaxInt64, "50", 4611686018427387904) // 4611686018427387903.5 → even
	f(math.MaxInt64, "0", 0)
	f(1, "50", 0) // 0.5 → 0
	f(3, "50", 2) // 1.5 → 2
	f(-3, "50", -2)
}

func TestApplyRatePanicsOnInvalidRate(t *testing.T) {
	for _, r := range []Rate{-1, MaxRate + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("ApplyRate(1, %d) did not panic", r)
				}
			}()
			ApplyRate(1, r)
		}()
	}
}

func TestSplitPercent(t *testing.T) {
	f := func(amount int64, pct int, wantA, wantB int64) {
		t.Helper()
		a, b := SplitPercent(amount, Percent(pct))
		if a != wantA || b != wantB {
			t.Fatalf("SplitPercent(%d, %d%%) = %d, %d; want %d, %d", amount, pct, a, b, wantA, wantB)
		}
	}
	f(1000, 90, 900, 100)
	f(1005, 90, 904, 101) // 904.5 → 904 (even); the reserve takes the rest
	f(1015, 90, 914, 101) // 913.5 → 914
	f(1, 90, 1, 0)
	f(-1005, 90, -904, -101) // clawbacks split the same way
	f(0, 90, 0, 0)
}

// TestEveryCurrency walks the whole table: every code parses, has an ISO
// exponent within MaxExponent, and round-trips an amount.
func TestEveryCurrency(t *testing.T) {
	codes := currency.GetCurrencyCodes()
	if len(codes) < 150 {
		t.Fatalf("only %d currencies in the table", len(codes))
	}
	for _, code := range codes {
		c, err := ParseCurrency(code)
		if err != nil {
			t.Fatalf("ParseCurrency(%q): %v", code, err)
		}
		if c.Exponent() < 0 || c.Exponent() > MaxExponent {
			t.Fatalf("%s exponent %d", code, c.Exponent())
		}
		if v, err := Parse(c, Format(c, 123456789)); err != nil || v != 123456789 {
			t.Fatalf("%s round trip = %d, %v", code, v, err)
		}
	}
}
