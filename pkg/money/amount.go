package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// MaxDecimalLen bounds the length in bytes of a decimal string accepted by
// Parse, ParseSigned and ParseRate. The longest canonical amount,
// "-922337203685477.5807", has 21 bytes; the rest is room for leading and
// trailing zeros.
const MaxDecimalLen = 40

// Errors returned (wrapped) by the parsers and the checked arithmetic. Match
// them with errors.Is.
var (
	// ErrSyntax reports a string that is not a plain decimal number:
	// digits, optionally '.' and more digits, optionally a leading '-'
	// where a sign is allowed. No '+', exponent, spaces, commas or
	// underscores.
	ErrSyntax = errors.New("not a decimal number")
	// ErrNegative reports a '-' sign where only non-negative amounts are allowed.
	ErrNegative = errors.New("negative amount not allowed")
	// ErrTooPrecise reports non-zero digits beyond the currency's minor unit
	// ("1.001" EUR, "1.5" JPY).
	ErrTooPrecise = errors.New("more fractional digits than the currency allows")
	// ErrOverflow reports a value outside ±(2^63−1) minor units.
	ErrOverflow = errors.New("amount out of range")
)

var pow10 = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// Parse parses a non-negative decimal string such as "149.90" into minor
// units of cur (14990 for EUR). It accepts "149", "149.9" and "149.90";
// fractional digits beyond the currency's exponent are accepted only when
// they are zeros ("1000.00" JPY is 1000), otherwise ErrTooPrecise. It
// rejects the empty string, signs, exponents ("1e3"), "1.", ".5", spaces,
// commas and anything longer than MaxDecimalLen (ErrSyntax), and values
// beyond int64 (ErrOverflow). Parse does not allocate on success.
func Parse(cur Currency, s string) (int64, error) {
	return parseDecimal(s, cur.exp, false)
}

// ParseSigned is like Parse but also accepts a leading '-', for adjustments
// that may be negative ("-0.50"). "-0" parses as 0.
func ParseSigned(cur Currency, s string) (int64, error) {
	return parseDecimal(s, cur.exp, true)
}

// parseDecimal parses s into an integer scaled by 10^exp.
func parseDecimal(s string, exp uint8, signed bool) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty string", ErrSyntax)
	}
	if len(s) > MaxDecimalLen {
		return 0, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxDecimalLen)
	}
	i := 0
	neg := false
	if s[0] == '-' {
		if !signed {
			return 0, fmt.Errorf("%w: %q", ErrNegative, s)
		}
		neg = true
		i = 1
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intEnd := i
	if intEnd == intStart {
		return 0, fmt.Errorf("%w: %q has no digits before the decimal point", ErrSyntax, s)
	}
	fracStart, fracEnd := i, i
	if i < len(s) && s[i] == '.' {
		i++
		fracStart = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracEnd = i
		if fracEnd == fracStart {
			return 0, fmt.Errorf("%w: %q has no digits after the decimal point", ErrSyntax, s)
		}
	}
	if i != len(s) {
		return 0, fmt.Errorf("%w: %q has an unexpected character at byte %d", ErrSyntax, s, i)
	}
	// Digits beyond the exponent must be zeros: the value is then exact.
	kept := fracEnd - fracStart
	if kept > int(exp) {
		for j := fracStart + int(exp); j < fracEnd; j++ {
			if s[j] != '0' {
				return 0, fmt.Errorf("%w: %q allows %d", ErrTooPrecise, s, exp)
			}
		}
		kept = int(exp)
	}
	var mag uint64
	for j := intStart; j < intEnd; j++ {
		if !mulAdd(&mag, s[j]-'0') {
			return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
	}
	for j := fracStart; j < fracStart+kept; j++ {
		if !mulAdd(&mag, s[j]-'0') {
			return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
	}
	for j := kept; j < int(exp); j++ {
		if !mulAdd(&mag, 0) {
			return 0, fmt.Errorf("%w: %q", ErrOverflow, s)
		}
	}
	if neg {
		return -int64(mag), nil
	}
	return int64(mag), nil
}

// mulAdd sets *mag = *mag*10 + d and reports false when the result would
// exceed math.MaxInt64.
func mulAdd(mag *uint64, d byte) bool {
	if *mag > (math.MaxInt64-uint64(d))/10 {
		return false
	}
	*mag = *mag*10 + uint64(d)
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Format formats minor units of cur as a decimal string with exactly the
// currency's number of fractional digits: 14990 EUR is "149.90", -50 EUR is
// "-0.50", 1000 JPY is "1000". Parse(cur, Format(cur, x)) == x for every x
// except math.MinInt64.
func Format(cur Currency, minor int64) string {
	var buf [24]byte
	return string(AppendFormat(buf[:0], cur, minor))
}

// AppendFormat appends Format(cur, minor) to dst and returns the extended
// buffer. It does not allocate when dst has room.
func AppendFormat(dst []byte, cur Currency, minor int64) []byte {
	return appendScaled(dst, minor, cur.exp, false)
}

// appendScaled appends v/10^exp with exp fractional digits; with trim it
// drops trailing fractional zeros (and the point when nothing remains).
func appendScaled(dst []byte, v int64, exp uint8, trim bool) []byte {
	mag := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		mag = uint64(-(v + 1)) + 1 // no overflow for math.MinInt64
	}
	if exp == 0 {
		return strconv.AppendUint(dst, mag, 10)
	}
	div := pow10[exp]
	dst = strconv.AppendUint(dst, mag/div, 10)
	frac := mag % div
	n := int(exp)
	if trim {
		for n > 0 && frac%10 == 0 {
			frac /= 10
			n--
		}
		if n == 0 {
			return dst
		}
	}
	dst = append(dst, '.')
	for p := n - 1; p >= 0; p-- {
		dst = append(dst, byte('0'+frac/pow10[p]%10))
	}
	return dst
}

// MulQty returns unitMinor × qty, or ErrOverflow when the product does not
// fit in ±(2^63−1).
func MulQty(unitMinor, qty int64) (int64, error) {
	if unitMinor == 0 || qty == 0 {
		return 0, nil
	}
	if unitMinor == math.MinInt64 || qty == math.MinInt64 {
		return 0, fmt.Errorf("%w: %d × %d", ErrOverflow, unitMinor, qty)
	}
	p := unitMinor * qty
	if p/qty != unitMinor || p == math.MinInt64 {
		return 0, fmt.Errorf("%w: %d × %d", ErrOverflow, unitMinor, qty)
	}
	return p, nil
}

// Add returns a + b, or ErrOverflow when the sum does not fit in ±(2^63−1).
func Add(a, b int64) (int64, error) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) || s == math.MinInt64 {
		return 0, fmt.Errorf("%w: %d + %d", ErrOverflow, a, b)
	}
	return s, nil
}

// Sub returns a − b, or ErrOverflow when the difference does not fit in
// ±(2^63−1).
func Sub(a, b int64) (int64, error) {
	if b == math.MinInt64 {
		return 0, fmt.Errorf("%w: %d - %d", ErrOverflow, a, b)
	}
	return Add(a, -b)
}
