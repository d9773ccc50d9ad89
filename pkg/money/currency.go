// Package money handles amounts of money as int64 minor units of an ISO 4217
// currency: parsing and formatting decimal strings, percentage rates, and
// half-even rounding with integer arithmetic only (no floats anywhere).
//
// Amounts are plain int64 values named with a Minor suffix (unitPriceMinor):
// they store as Postgres bigint and ClickHouse Int64 without conversion, and
// the currency travels beside them. The representable range is
// ±(2^63−1) minor units; math.MinInt64 is never produced, so negation is
// always safe.
package money

import (
	"errors"
	"fmt"

	"github.com/bojanz/currency"
)

// MaxExponent is the largest minor-unit exponent of any ISO 4217 currency
// (4, for CLF and UYW). Parse never accepts more fractional digits than this.
const MaxExponent = 4

// ErrUnknownCurrency reports a currency code that is not an active ISO 4217
// currency with a defined minor unit.
var ErrUnknownCurrency = errors.New("unknown currency")

// Currency is an active ISO 4217 currency: its three-letter code and its
// minor-unit exponent (the number of fractional decimal digits: JPY 0, EUR 2,
// KWD 3, CLF 4). The zero value is not a currency; see IsZero.
//
// Currency is comparable and cheap to copy.
type Currency struct {
	code string
	exp  uint8
}

// ParseCurrency returns the currency with the given ISO 4217 code. The code
// must be exactly three upper-case ASCII letters ("EUR", not "eur") naming an
// active currency with a defined minor unit.
//
// The table comes from github.com/bojanz/currency, which is generated from the
// ISO 4217 maintenance agency's list (list-one.xml, for codes and minor units)
// and current CLDR. golang.org/x/text/currency was considered and rejected: its
// tables are CLDR 32 (2017) and lack currencies in use today (VES, VED, MRU,
// SLE, ZWG, XCG) while still listing withdrawn ones (HRK), and CLDR's
// "digits" are display digits, not the ISO exponent (IQD 0 instead of 3,
// IDR, RSD, COP, PKR and others 0 instead of 2). Funds and metals without an
// ISO minor unit (XAU, XDR…) and the test code XTS are not accepted.
func ParseCurrency(code string) (Currency, error) {
	if len(code) != 3 || !isUpper(code[0]) || !isUpper(code[1]) || !isUpper(code[2]) {
		return Currency{}, fmt.Errorf("%w: %q is not three upper-case letters", ErrUnknownCurrency, code)
	}
	digits, ok := currency.GetDigits(code)
	if !ok {
		return Currency{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, code)
	}
	if digits > MaxExponent {
		panic(fmt.Sprintf("BUG: currency %s has exponent %d > MaxExponent", code, digits))
	}
	return Currency{code: code, exp: digits}, nil
}

// MustParseCurrency is like ParseCurrency but panics on an unknown code. It
// is meant for constants in code and tests.
func MustParseCurrency(code string) Currency {
	c, err := ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// Code returns the ISO 4217 alphabetic code, for example "EUR".
func (c Currency) Code() string { return c.code }

// Exponent returns the ISO 4217 minor-unit exponent: amounts are stored in
// units of 10^-Exponent of the major unit.
func (c Currency) Exponent() int { return int(c.exp) }

// IsZero reports whether c is the zero Currency (no currency).
func (c Currency) IsZero() bool { return c.code == "" }

// String returns the ISO 4217 code.
func (c Currency) String() string { return c.code }

// MarshalText implements encoding.TextMarshaler (the ISO code).
func (c Currency) MarshalText() ([]byte, error) {
	if c.IsZero() {
		return nil, errors.New("cannot marshal zero currency")
	}
	return []byte(c.code), nil
}

// UnmarshalText implements encoding.TextUnmarshaler through ParseCurrency.
func (c *Currency) UnmarshalText(b []byte) error {
	v, err := ParseCurrency(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
