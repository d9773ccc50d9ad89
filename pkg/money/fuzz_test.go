package money

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"149.90", "0", "-0.50", "1e3", "1,000.00", "+1", " 1", "92233720368547758.07",
		"92233720368547758.08", "1.001", "1000.00", ".5", "5.", "-", "", "007", "1.0000000"} {
		f.Add(s, uint8(2))
	}
	f.Add("1.234", uint8(3))
	f.Add("1000", uint8(0))
	f.Fuzz(func(t *testing.T, s string, expSel uint8) {
		cur := propCurrencies[int(expSel)%len(propCurrencies)]
		v, err := ParseSigned(cur, s)
		u, uerr := Parse(cur, s)
		if uerr == nil && (err != nil || u != v || u < 0) {
			t.Fatalf("Parse(%q) = %d, %v but ParseSigned = %d, %v", s, u, uerr, v, err)
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooPrecise) && !errors.Is(err, ErrOverflow) {
				t.Fatalf("ParseSigned(%q) error %v is not a documented error", s, err)
			}
			return
		}
		// Accepted strings are plain decimals that big.Rat agrees with.
		if strings.ContainsAny(s, "+eE_, \t") {
			t.Fatalf("ParseSigned accepted %q", s)
		}
		ref, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("ParseSigned accepted %q, big.Rat did not", s)
		}
		ref.Mul(ref, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cur.Exponent())), nil)))
		if !ref.IsInt() || ref.Num().Int64() != v {
			t.Fatalf("ParseSigned(%s, %q) = %d, big.Rat says %s", cur, s, v, ref.RatString())
		}
		back, err := ParseSigned(cur, Format(cur, v))
		if err != nil || back != v {
			t.Fatalf("round trip of %q via %q = %d, %v", s, Format(cur, v), back, err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10", "12.345", "100", "100.0000001", "0.000001", "0.0000001", "-1", "1e1", "", "10%", "099.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if !r.Valid() {
			t.Fatalf("ParseRate(%q) = %d, outside 0..100%%", s, r)
		}
		ref, ok := new(big.Rat).SetString(s)
		if !ok || ref.Cmp(new(big.Rat).SetFrac64(int64(r), RateScale)) != 0 {
			t.Fatalf("ParseRate(%q) = %d, big.Rat says %v", s, r, ref)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q.String()=%q) = %d, %v", s, r.String(), back, err)
		}
		// Applying it never panics and stays within the base.
		if got := ApplyRate(123456789, r); got < 0 || got > 123456789 {
			t.Fatalf("ApplyRate(123456789, %s) = %d", r, got)
		}
	})
}
