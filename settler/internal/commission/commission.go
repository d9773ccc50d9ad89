// Package commission is the settler's pure commission arithmetic (DESIGN §5):
// the commissionable base of an order line, the most specific rate for a
// partner and line, half-even rounding per line, self-referral, and how much
// of a line's commission a refund takes back. Nothing here does I/O; every
// amount is int64 minor units of the order's currency and every computation
// is exact integer arithmetic.
package commission

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/openaff/affiliate/pkg/money"
)

// Rule names which level of the rate table supplied a line's rate. It is
// stored beside the rate on every commission.
type Rule string

// The rate levels of DESIGN §5, most specific first.
const (
	RulePartnerProduct  Rule = "partner_product"
	RuleProduct         Rule = "product"
	RulePartnerCategory Rule = "partner_category"
	RuleCategory        Rule = "category"
	RulePartnerDefault  Rule = "partner_default"
	RuleProgramDefault  Rule = "program_default"
)

// MaxLines bounds the lines of one order the engine accepts; the event
// decoder enforces a limit at least as strict.
const MaxLines = 1000

// Errors returned (wrapped, naming the line) by Base and Compute.
var (
	// ErrQuantity reports a line quantity that is not positive.
	ErrQuantity = errors.New("quantity must be positive")
	// ErrNegativePrice reports a negative unit price or discount.
	ErrNegativePrice = errors.New("unit price and discount must not be negative")
	// ErrDiscount reports a discount larger than unit price × quantity.
	ErrDiscount = errors.New("discount exceeds unit price × quantity")
	// ErrTooManyLines reports an order with more than MaxLines lines.
	ErrTooManyLines = errors.New("too many lines")
	// ErrDuplicateLine reports two lines with the same line id.
	ErrDuplicateLine = errors.New("duplicate line id")
)

// Line is one order line as far as commission is concerned. Shipping is not
// a line: it is never commissionable.
type Line struct {
	LineID         string
	ProductID      string
	CategoryID     string // empty when unknown
	Quantity       int64
	UnitPriceMinor int64
	DiscountMinor  int64
}

// Base returns the commissionable base of l: unit price × quantity −
// discount. It fails, naming the line, on a non-positive quantity, negative
// amounts, overflow, or a discount above the line's gross.
func Base(l Line) (int64, error) {
	if l.Quantity <= 0 {
		return 0, fmt.Errorf("line %q: %w (got %d)", l.LineID, ErrQuantity, l.Quantity)
	}
	if l.UnitPriceMinor < 0 || l.DiscountMinor < 0 {
		return 0, fmt.Errorf("line %q: %w", l.LineID, ErrNegativePrice)
	}
	gross, err := money.MulQty(l.UnitPriceMinor, l.Quantity)
	if err != nil {
		return 0, fmt.Errorf("line %q: %w", l.LineID, err)
	}
	if l.DiscountMinor > gross {
		return 0, fmt.Errorf("line %q: %w", l.LineID, ErrDiscount)
	}
	return gross - l.DiscountMinor, nil
}

// Rates is the rate table of one settlement pass: the program default, the
// partners' defaults and the specific rates. The zero value has a program
// default of 0 %; fill it with the Set methods. Rates is not safe for
// concurrent writes, but concurrent Lookups of a filled table are fine.
type Rates struct {
	ProgramDefault  money.Rate
	partnerDefault  map[int64]money.Rate
	partnerProduct  map[partnerKey]money.Rate
	product         map[string]money.Rate
	partnerCategory map[partnerKey]money.Rate
	category        map[string]money.Rate
}

type partnerKey struct {
	partnerID int64
	id        string
}

// NewRates returns an empty table with the given program default.
func NewRates(programDefault money.Rate) *Rates {
	return &Rates{
		ProgramDefault:  programDefault,
		partnerDefault:  map[int64]money.Rate{},
		partnerProduct:  map[partnerKey]money.Rate{},
		product:         map[string]money.Rate{},
		partnerCategory: map[partnerKey]money.Rate{},
		category:        map[string]money.Rate{},
	}
}

// SetPartnerDefault sets a partner's own default rate.
func (r *Rates) SetPartnerDefault(partnerID int64, rate money.Rate) {
	r.partnerDefault[partnerID] = mustValid(rate)
}

// SetProduct sets the rate of a product, for one partner when partnerID is
// non-zero and for every partner otherwise.
func (r *Rates) SetProduct(partnerID int64, productID string, rate money.Rate) {
	if partnerID != 0 {
		r.partnerProduct[partnerKey{partnerID, productID}] = mustValid(rate)
		return
	}
	r.product[productID] = mustValid(rate)
}

// SetCategory sets the rate of a category, for one partner when partnerID is
// non-zero and for every partner otherwise.
func (r *Rates) SetCategory(partnerID int64, categoryID string, rate money.Rate) {
	if partnerID != 0 {
		r.partnerCategory[partnerKey{partnerID, categoryID}] = mustValid(rate)
		return
	}
	r.category[categoryID] = mustValid(rate)
}

func mustValid(rate money.Rate) money.Rate {
	if !rate.Valid() {
		panic(fmt.Sprintf("BUG: commission rate %d outside 0..100 %%", int64(rate)))
	}
	return rate
}

// Lookup returns the most specific rate for partnerID on a line of
// productID in categoryID (empty when unknown), and the rule that supplied
// it: partner+product, product, partner+category, category, partner
// default, program default.
func (r *Rates) Lookup(partnerID int64, productID, categoryID string) (money.Rate, Rule) {
	if v, ok := r.partnerProduct[partnerKey{partnerID, productID}]; ok {
		return v, RulePartnerProduct
	}
	if v, ok := r.product[productID]; ok {
		return v, RuleProduct
	}
	if categoryID != "" {
		if v, ok := r.partnerCategory[partnerKey{partnerID, categoryID}]; ok {
			return v, RulePartnerCategory
		}
		if v, ok := r.category[categoryID]; ok {
			return v, RuleCategory
		}
	}
	if v, ok := r.partnerDefault[partnerID]; ok {
		return v, RulePartnerDefault
	}
	return r.ProgramDefault, RuleProgramDefault
}

// LineCommission is the commission of one line: its base, the rate and rule
// used, and the amount (base × rate, half-even to the minor unit).
type LineCommission struct {
	LineID      string
	Quantity    int64
	BaseMinor   int64
	Rate        money.Rate
	Rule        Rule
	AmountMinor int64
}

// Compute returns the commission of every line of an order attributed to
// partnerID, in line order. Every line counts, whichever product the partner
// linked. It fails, naming the line, on invalid lines or duplicate line ids;
// then nothing is returned.
func Compute(partnerID int64, lines []Line, rates *Rates) ([]LineCommission, error) {
	if len(lines) > MaxLines {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyLines, len(lines), MaxLines)
	}
	out := make([]LineCommission, 0, len(lines))
	seen := make(map[string]struct{}, len(lines))
	for _, l := range lines {
		if _, dup := seen[l.LineID]; dup {
			return nil, fmt.Errorf("line %q: %w", l.LineID, ErrDuplicateLine)
		}
		seen[l.LineID] = struct{}{}
		base, err := Base(l)
		if err != nil {
			return nil, err
		}
		rate, rule := rates.Lookup(partnerID, l.ProductID, l.CategoryID)
		out = append(out, LineCommission{
			LineID:      l.LineID,
			Quantity:    l.Quantity,
			BaseMinor:   base,
			Rate:        rate,
			Rule:        rule,
			AmountMinor: money.ApplyRate(base, rate),
		})
	}
	return out, nil
}

// SelfReferral reports whether an order by orderCustomerID would credit the
// partner whose own shop account is partnerCustomerID. Such an order never
// earns that partner a commission. Empty ids never match.
func SelfReferral(partnerCustomerID, orderCustomerID string) bool {
	return partnerCustomerID != "" && partnerCustomerID == orderCustomerID
}

// Refunded is what has been refunded of one line so far, cumulatively over
// every refund event: a quantity (by line quantity) and an amount of the
// line's base (by amount).
type Refunded struct {
	Quantity    int64
	AmountMinor int64
}

// Reversed returns how much of commission c is taken back once r has been
// refunded of the line, cumulatively:
//
//	c.AmountMinor × min(1, r.Quantity/c.Quantity + r.AmountMinor/c.BaseMinor)
//
// rounded half-even, computed exactly. The result lies in
// [0, c.AmountMinor], never decreases as r grows, and equals c.AmountMinor
// once the whole line is refunded. The reversal of one refund event is the
// difference of Reversed after and before it, so the parts always add up to
// the whole and nothing is reversed twice.
func Reversed(c LineCommission, r Refunded) int64 {
	if c.AmountMinor <= 0 || (r.Quantity <= 0 && r.AmountMinor <= 0) {
		return 0
	}
	q := max(r.Quantity, 0)
	a := max(r.AmountMinor, 0)
	if q >= c.Quantity || c.BaseMinor <= 0 || a >= c.BaseMinor {
		return c.AmountMinor
	}
	// fraction = (q×B + a×Q) / (Q×B), capped at 1.
	Q := big.NewInt(c.Quantity)
	B := big.NewInt(c.BaseMinor)
	num := new(big.Int).Mul(big.NewInt(q), B)
	num.Add(num, new(big.Int).Mul(big.NewInt(a), Q))
	den := new(big.Int).Mul(Q, B)
	if num.Cmp(den) >= 0 {
		return c.AmountMinor
	}
	num.Mul(num, big.NewInt(c.AmountMinor))
	return divHalfEven(num, den)
}

// divHalfEven returns num/den rounded half-even; both are non-negative and
// the quotient fits in int64.
func divHalfEven(num, den *big.Int) int64 {
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	rem.Lsh(rem, 1)
	switch rem.Cmp(den) {
	case 1:
		quo.Add(quo, big.NewInt(1))
	case 0:
		if quo.Bit(0) == 1 {
			quo.Add(quo, big.NewInt(1))
		}
	}
	return quo.Int64()
}

// AllocateAmount splits an order-level refund amount over lines in
// proportion to what is still unrefunded of each line (remainingMinor),
// by the largest-remainder method: the parts are integers, add up to
// min(amountMinor, Σ remaining) exactly, and none exceeds its line's
// remainder. Ties go to the earlier line. Negative inputs count as zero.
func AllocateAmount(amountMinor int64, remainingMinor []int64) []int64 {
	out := make([]int64, len(remainingMinor))
	var total int64
	for _, r := range remainingMinor {
		if r > 0 {
			total += r // the caller's line bases already fit in int64 together
		}
	}
	if amountMinor <= 0 || total == 0 {
		return out
	}
	if amountMinor >= total {
		for i, r := range remainingMinor {
			out[i] = max(r, 0)
		}
		return out
	}
	A, T := big.NewInt(amountMinor), big.NewInt(total)
	rems := make([]*big.Int, len(remainingMinor))
	var given int64
	for i, r := range remainingMinor {
		if r <= 0 {
			rems[i] = big.NewInt(-1)
			continue
		}
		p := new(big.Int).Mul(A, big.NewInt(r))
		quo, rem := new(big.Int).QuoRem(p, T, new(big.Int))
		out[i] = quo.Int64()
		rems[i] = rem
		given += out[i]
	}
	// Hand out the units lost to truncation, largest remainder first.
	for left := amountMinor - given; left > 0; left-- {
		best := -1
		for i, rem := range rems {
			if rem.Sign() > 0 && (best < 0 || rem.Cmp(rems[best]) > 0) {
				best = i
			}
		}
		if best < 0 {
			panic("BUG: commission.AllocateAmount ran out of remainders")
		}
		out[best]++
		rems[best] = big.NewInt(0)
	}
	return out
}

// FullyRefunded reports whether r covers the whole of a line of quantity
// qty and base baseMinor: r.Quantity/qty + r.AmountMinor/base ≥ 1. A line
// with a zero base counts as fully refunded once anything of it is.
func FullyRefunded(qty, baseMinor int64, r Refunded) bool {
	if r.Quantity >= qty || (r.AmountMinor > 0 && r.AmountMinor >= baseMinor) {
		return true
	}
	if r.Quantity <= 0 && r.AmountMinor <= 0 {
		return false
	}
	if baseMinor <= 0 {
		return true
	}
	num := new(big.Int).Mul(big.NewInt(max(r.Quantity, 0)), big.NewInt(baseMinor))
	num.Add(num, new(big.Int).Mul(big.NewInt(max(r.AmountMinor, 0)), big.NewInt(qty)))
	return num.Cmp(new(big.Int).Mul(big.NewInt(qty), big.NewInt(baseMinor))) >= 0
}
