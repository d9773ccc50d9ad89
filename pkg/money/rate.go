package money

import (
	"errors"
	"fmt"
	"math/bits"
)

// Rate is a percentage stored as an integer count of millionths of a percent
// (micro-percent): "10" percent is 10_000_000, "12.345" is 12_345_000. Six
// fractional digits of a percent is the finest precision accepted; every rate
// written with at most six decimals is exact. Valid rates lie in
// [0, MaxRate], that is 0 % to 100 % inclusive.
type Rate int64

const (
	// RateScale is the number of Rate units in one percent.
	RateScale = 1_000_000
	// rateExp is log10(RateScale): the fractional digits a rate may have.
	rateExp = 6
	// MaxRate is 100 %.
	MaxRate Rate = 100 * RateScale
	// rateDen is the Rate value of a factor of 1 (100 %), the divisor of
	// ApplyRate.
	rateDen = uint64(MaxRate)
)

// ErrRateRange reports a rate outside 0 % to 100 %.
var ErrRateRange = errors.New("rate must be between 0 and 100 percent")

// ParseRate parses a percentage written as a decimal string without the
// percent sign: "10", "12.5", "12.345678". It accepts at most six non-zero
// fractional digits (ErrTooPrecise), follows the syntax rules of Parse
// (ErrSyntax) and rejects values above 100 (ErrRateRange) or negative
// (ErrNegative).
func ParseRate(s string) (Rate, error) {
	v, err := parseDecimal(s, rateExp, false)
	if err != nil {
		if errors.Is(err, ErrOverflow) {
			return 0, fmt.Errorf("%w: %q", ErrRateRange, s)
		}
		return 0, err
	}
	r := Rate(v)
	if !r.Valid() {
		return 0, fmt.Errorf("%w: %q", ErrRateRange, s)
	}
	return r, nil
}

// Percent returns the rate of n whole percent. It panics when n is outside
// 0..100; it is meant for constants and tests.
func Percent(n int) Rate {
	r := Rate(n) * RateScale
	if n < 0 || !r.Valid() {
		panic(fmt.Sprintf("BUG: money.Percent(%d) outside 0..100", n))
	}
	return r
}

// Valid reports whether r lies in [0, MaxRate].
func (r Rate) Valid() bool { return r >= 0 && r <= MaxRate }

// String formats r as ParseRate accepts it, without trailing zeros: "10",
// "12.345".
func (r Rate) String() string {
	var buf [24]byte
	return string(appendScaled(buf[:0], int64(r), rateExp, true))
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (r Rate) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("%w: %d micro-percent", ErrRateRange, int64(r))
	}
	return appendScaled(nil, int64(r), rateExp, true), nil
}

// UnmarshalText implements encoding.TextUnmarshaler through ParseRate.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ApplyRate returns baseMinor × rate, rounded half-even (banker's rounding)
// to the minor unit: 10 % of 5 is 0 (0.5 rounds to even 0), 10 % of 15 is 2
// (1.5 rounds to 2), 10 % of -15 is -2. It uses exact 128-bit integer
// arithmetic, so it is correct for every int64 base. The result's magnitude
// never exceeds |baseMinor|.
//
// A rate outside [0, MaxRate] is a programming error (ParseRate never returns
// one) and panics.
func ApplyRate(baseMinor int64, rate Rate) int64 {
	if !rate.Valid() {
		panic(fmt.Sprintf("BUG: money.ApplyRate with invalid rate %d", int64(rate)))
	}
	mag := uint64(baseMinor)
	if baseMinor < 0 {
		mag = uint64(-(baseMinor + 1)) + 1
	}
	hi, lo := bits.Mul64(mag, uint64(rate))
	// hi < rateDen because mag < 2^64 and rate <= rateDen, so Div64 cannot
	// overflow.
	q, rem := bits.Div64(hi, lo, rateDen)
	if 2*rem > rateDen || (2*rem == rateDen && q&1 == 1) {
		q++
	}
	if baseMinor < 0 {
		return -int64(q-1) - 1 // q may be 2^63 when baseMinor is math.MinInt64
	}
	return int64(q)
}

// SplitPercent splits amountMinor into a, the given percent of it rounded
// half-even (ApplyRate), and b, the rest, so that a+b == amountMinor exactly.
// (The ledger's split of an approved commission into available and reserved
// is not this one: it rounds the reserve down, in the partner's favour —
// pkg/ledger ApproveParams.)
func SplitPercent(amountMinor int64, percent Rate) (a, b int64) {
	a = ApplyRate(amountMinor, percent)
	return a, amountMinor - a
}
