package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// Property tests: hand-rolled random loops with a fixed seed, so a failure
// reproduces; each loop is bounded.

const propIters = 200_000

var propCurrencies = []Currency{jpy, eur, kwd, clf}

// randInt64 returns values spread over every magnitude, not just huge ones.
func randInt64(r *rand.Rand) int64 {
	bitsN := r.IntN(64)
	v := int64(r.Uint64() >> (64 - bitsN) >> 1)
	if r.IntN(2) == 0 {
		v = -v
	}
	return v
}

func TestPropertyFormatParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < propIters; i++ {
		cur := propCurrencies[i%len(propCurrencies)]
		v := randInt64(r)
		s := Format(cur, v)
		got, err := ParseSigned(cur, s)
		if err != nil || got != v {
			t.Fatalf("ParseSigned(%s, Format(%d)=%q) = %d, %v", cur, v, s, got, err)
		}
		if v >= 0 {
			if got, err := Parse(cur, s); err != nil || got != v {
				t.Fatalf("Parse(%s, %q) = %d, %v; want %d", cur, s, got, err, v)
			}
		}
		// The canonical string is a fixed point.
		if s2 := Format(cur, got); s2 != s {
			t.Fatalf("Format(Parse(%q)) = %q", s, s2)
		}
	}
}

// TestPropertyParseMatchesBigRat parses random decimal strings (some valid,
// some too precise or too large) and checks the result against math/big.
func TestPropertyParseMatchesBigRat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	maxRat := new(big.Rat).SetInt64(math.MaxInt64)
	for i := 0; i < propIters; i++ {
		cur := propCurrencies[i%len(propCurrencies)]
		var sb strings.Builder
		if r.IntN(4) == 0 {
			sb.WriteByte('-')
		}
		for n := 1 + r.IntN(21); n > 0; n-- {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(3) > 0 {
			sb.WriteByte('.')
			for n := 1 + r.IntN(6); n > 0; n-- {
				sb.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		s := sb.String()
		ref, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot parse %q", s)
		}
		scaled := new(big.Rat).Mul(ref, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cur.Exponent())), nil)))
		got, err := ParseSigned(cur, s)
		switch {
		case !scaled.IsInt():
			if err == nil {
				t.Fatalf("ParseSigned(%s, %q) = %d, want ErrTooPrecise", cur, s, got)
			}
		case new(big.Rat).Abs(scaled).Cmp(maxRat) > 0:
			if err == nil {
				t.Fatalf("ParseSigned(%s, %q) = %d, want ErrOverflow", cur, s, got)
			}
		default:
			if err != nil || !scaled.Num().IsInt64() || got != scaled.Num().Int64() {
				t.Fatalf("ParseSigned(%s, %q) = %d, %v; want %s", cur, s, got, err, scaled.Num())
			}
		}
	}
}

// refApplyRate is the reference: exact rational product, rounded half-even.
func refApplyRate(base int64, rate Rate) int64 {
	x := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(base), big.NewInt(int64(rate))), big.NewInt(int64(MaxRate)))
	return roundHalfEven(x).Int64()
}

func roundHalfEven(x *big.Rat) *big.Int {
	num, den := x.Num(), x.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int)) // truncated toward zero
	twice := new(big.Int).Abs(m)
	twice.Lsh(twice, 1)
	switch twice.Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(int64(num.Sign())))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(int64(num.Sign())))
		}
	}
	return q
}

func TestPropertyApplyRateHalfEven(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < propIters; i++ {
		base := randInt64(r)
		var rate Rate
		switch i % 4 {
		case 0:
			rate = Rate(r.Int64N(int64(MaxRate) + 1)) // any micro-percent
		case 1:
			rate = Rate(r.IntN(101)) * RateScale // whole percent
		case 2:
			rate = Rate(r.IntN(201)) * RateScale / 2 // halves: many exact ties
		default:
			base = int64(r.IntN(2000)) - 1000 // small bases: ties are common
			rate = Rate(r.IntN(101)) * RateScale
		}
		got, want := ApplyRate(base, rate), refApplyRate(base, rate)
		if got != want {
			t.Fatalf("ApplyRate(%d, %s%%) = %d, want %d", base, rate, got, want)
		}
		a, b := SplitPercent(base, rate)
		if a+b != base || a != got {
			t.Fatalf("SplitPercent(%d, %s%%) = %d, %d", base, rate, a, b)
		}
	}
	// Edges, every rate class.
	for _, base := range []int64{math.MaxInt64, -math.MaxInt64, math.MinInt64, 0, 1, -1} {
		for _, rate := range []Rate{0, 1, MaxRate / 2, MaxRate - 1, MaxRate} {
			if got, want := ApplyRate(base, rate), refApplyRate(base, rate); got != want {
				t.Fatalf("ApplyRate(%d, %d) = %d, want %d", base, rate, got, want)
			}
		}
	}
}

func TestPropertyMulQtyNoPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < propIters; i++ {
		u, q := randInt64(r), randInt64(r)
		got, err := MulQty(u, q)
		ref := new(big.Int).Mul(big.NewInt(u), big.NewInt(q))
		fits := ref.IsInt64() && ref.Int64() != math.MinInt64
		if fits != (err == nil) || (fits && got != ref.Int64()) {
			t.Fatalf("MulQty(%d, %d) = %d, %v; want %s", u, q, got, err, ref)
		}
		s, err := Add(u, q)
		ref.Add(big.NewInt(u), big.NewInt(q))
		fits = ref.IsInt64() && ref.Int64() != math.MinInt64
		if fits != (err == nil) || (fits && s != ref.Int64()) {
			t.Fatalf("Add(%d, %d) = %d, %v; want %s", u, q, s, err, ref)
		}
	}
}

func TestPropertyRateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < propIters/10; i++ {
		rate := Rate(r.Int64N(int64(MaxRate) + 1))
		got, err := ParseRate(rate.String())
		if err != nil || got != rate {
			t.Fatalf("ParseRate(%q) = %d, %v; want %d", rate.String(), got, err, rate)
		}
	}
}
