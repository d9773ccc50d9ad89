package commission

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/openaff/affiliate/pkg/money"
)

func mustRate(t testing.TB, s string) money.Rate {
	t.Helper()
	r, err := money.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBase(t *testing.T) {
	f := func(l Line, want int64, wantErr error) {
		t.Helper()
		got, err := Base(l)
		if !errors.Is(err, wantErr) {
			t.Fatalf("Base(%+v) error = %v, want %v", l, err, wantErr)
		}
		if got != want {
			t.Fatalf("Base(%+v) = %d, want %d", l, got, want)
		}
	}
	// unit price × quantity − discount.
	f(Line{LineID: "a", Quantity: 3, UnitPriceMinor: 14990, DiscountMinor: 990}, 43980, nil)
	// No discount.
	f(Line{LineID: "a", Quantity: 1, UnitPriceMinor: 100}, 100, nil)
	// A free line has a zero base, not an error.
	f(Line{LineID: "a", Quantity: 2, UnitPriceMinor: 0}, 0, nil)
	// Discount equal to the gross leaves zero.
	f(Line{LineID: "a", Quantity: 2, UnitPriceMinor: 50, DiscountMinor: 100}, 0, nil)
	// Discount above the gross is bad input.
	f(Line{LineID: "a", Quantity: 2, UnitPriceMinor: 50, DiscountMinor: 101}, 0, ErrDiscount)
	// Zero and negative quantities.
	f(Line{LineID: "a", Quantity: 0, UnitPriceMinor: 50}, 0, ErrQuantity)
	f(Line{LineID: "a", Quantity: -1, UnitPriceMinor: 50}, 0, ErrQuantity)
	// Negative price or discount.
	f(Line{LineID: "a", Quantity: 1, UnitPriceMinor: -5}, 0, ErrNegativePrice)
	f(Line{LineID: "a", Quantity: 1, UnitPriceMinor: 5, DiscountMinor: -1}, 0, ErrNegativePrice)
	// Overflow of price × quantity.
	f(Line{LineID: "a", Quantity: 2, UnitPriceMinor: math.MaxInt64/2 + 1}, 0, money.ErrOverflow)
}

func TestBaseErrorNamesLine(t *testing.T) {
	_, err := Base(Line{LineID: "line-42", Quantity: 0})
	if err == nil || !strings.Contains(err.Error(), `"line-42"`) {
		t.Fatalf("Base error = %v, want it to name line-42", err)
	}
}

func TestLookup(t *testing.T) {
	r := NewRates(mustRate(t, "10"))
	r.SetPartnerDefault(1, mustRate(t, "11"))
	r.SetCategory(0, "shoes", mustRate(t, "12"))
	r.SetCategory(1, "shoes", mustRate(t, "13"))
	r.SetProduct(0, "p1", mustRate(t, "14"))
	r.SetProduct(1, "p1", mustRate(t, "15"))
	r.SetProduct(2, "p2", mustRate(t, "16"))

	f := func(partner int64, product, category, wantRate string, wantRule Rule) {
		t.Helper()
		rate, rule := r.Lookup(partner, product, category)
		if rate != mustRate(t, wantRate) || rule != wantRule {
			t.Fatalf("Lookup(%d, %q, %q) = %v %s, want %s %s", partner, product, category, rate, rule, wantRate, wantRule)
		}
	}
	// partner+product beats everything.
	f(1, "p1", "shoes", "15", RulePartnerProduct)
	// product beats partner+category for a partner without its own product rate.
	f(3, "p1", "shoes", "14", RuleProduct)
	// product beats a partner's category rate too.
	f(1, "p1", "hats", "15", RulePartnerProduct)
	// partner+category beats category.
	f(1, "p9", "shoes", "13", RulePartnerCategory)
	// category beats the partner default.
	f(3, "p9", "shoes", "12", RuleCategory)
	// partner default when nothing specific matches.
	f(1, "p9", "hats", "11", RulePartnerDefault)
	// program default for a partner without a default.
	f(3, "p9", "hats", "10", RuleProgramDefault)
	// Another partner's partner+product rate does not apply.
	f(1, "p2", "", "11", RulePartnerDefault)
	f(2, "p2", "", "16", RulePartnerProduct)
	// An unknown category never matches a category rate keyed "".
	f(3, "p9", "", "10", RuleProgramDefault)
}

func TestCompute(t *testing.T) {
	r := NewRates(mustRate(t, "10"))
	r.SetProduct(0, "book", mustRate(t, "5"))
	lines := []Line{
		// 10 % of 149.90 × 1 = 14.99.
		{LineID: "1", ProductID: "linked", Quantity: 1, UnitPriceMinor: 14990},
		// Another product still earns (5 % of 2 × 12.50 − 0.10 = 24.90 → 1.245 → 1.24 half-even).
		{LineID: "2", ProductID: "book", Quantity: 2, UnitPriceMinor: 1250, DiscountMinor: 10},
		// 10 % of 0.15 = 0.015 → 0.02 (half-even, 1 is odd).
		{LineID: "3", ProductID: "x", Quantity: 1, UnitPriceMinor: 15},
		// 10 % of 0.25 = 0.025 → 0.02 (half-even, 2 is even).
		{LineID: "4", ProductID: "x", Quantity: 1, UnitPriceMinor: 25},
	}
	got, err := Compute(7, lines, r)
	if err != nil {
		t.Fatal(err)
	}
	want := []LineCommission{
		{LineID: "1", Quantity: 1, BaseMinor: 14990, Rate: mustRate(t, "10"), Rule: RuleProgramDefault, AmountMinor: 1499},
		{LineID: "2", Quantity: 2, BaseMinor: 2490, Rate: mustRate(t, "5"), Rule: RuleProduct, AmountMinor: 124},
		{LineID: "3", Quantity: 1, BaseMinor: 15, Rate: mustRate(t, "10"), Rule: RuleProgramDefault, AmountMinor: 2},
		{LineID: "4", Quantity: 1, BaseMinor: 25, Rate: mustRate(t, "10"), Rule: RuleProgramDefault, AmountMinor: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("Compute returned %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Compute line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestComputeRejects(t *testing.T) {
	r := NewRates(mustRate(t, "10"))
	f := func(lines []Line, wantErr error) {
		t.Helper()
		got, err := Compute(1, lines, r)
		if !errors.Is(err, wantErr) || got != nil {
			t.Fatalf("Compute(%+v) = %v, %v; want nil, %v", lines, got, err, wantErr)
		}
	}
	// One bad line refuses the whole order: nothing half-computed.
	f([]Line{{LineID: "1", Quantity: 1, UnitPriceMinor: 1}, {LineID: "2", Quantity: 0}}, ErrQuantity)
	// Duplicate line ids would make refunds ambiguous.
	f([]Line{{LineID: "1", Quantity: 1}, {LineID: "1", Quantity: 1}}, ErrDuplicateLine)
	f(make([]Line, MaxLines+1), ErrTooManyLines)
}

func TestJPYHasNoMinorDigits(t *testing.T) {
	// Amounts are already minor units; 10 % of ¥155 = 15.5 → 16 (half-even to even 16).
	got, err := Compute(1, []Line{{LineID: "1", Quantity: 1, UnitPriceMinor: 155}}, NewRates(mustRate(t, "10")))
	if err != nil || got[0].AmountMinor != 16 {
		t.Fatalf("Compute(¥155 at 10%%) = %+v, %v; want 16", got, err)
	}
}

func TestSelfReferral(t *testing.T) {
	f := func(partnerCustomer, orderCustomer string, want bool) {
		t.Helper()
		if got := SelfReferral(partnerCustomer, orderCustomer); got != want {
			t.Fatalf("SelfReferral(%q, %q) = %v, want %v", partnerCustomer, orderCustomer, got, want)
		}
	}
	f("c1", "c1", true)
	f("c1", "c2", false)
	// A partner without a shop account, or a guest order, is never self-referral.
	f("", "", false)
	f("", "c1", false)
	f("c1", "", false)
}

func TestReversed(t *testing.T) {
	c := LineCommission{Quantity: 3, BaseMinor: 30000, AmountMinor: 1000}
	f := func(r Refunded, want int64) {
		t.Helper()
		if got := Reversed(c, r); got != want {
			t.Fatalf("Reversed(%+v, %+v) = %d, want %d", c, r, got, want)
		}
	}
	// Nothing refunded.
	f(Refunded{}, 0)
	// One of three units: 1000/3 = 333.33 → 333.
	f(Refunded{Quantity: 1}, 333)
	// Two of three: 666.67 → 667.
	f(Refunded{Quantity: 2}, 667)
	// All units, or more than were bought: the whole commission, never more.
	f(Refunded{Quantity: 3}, 1000)
	f(Refunded{Quantity: 9}, 1000)
	// By amount: 150.00 of 300.00 is half.
	f(Refunded{AmountMinor: 15000}, 500)
	// Amount above the base is capped.
	f(Refunded{AmountMinor: 99999}, 1000)
	// Quantity and amount add up: 1/3 + 1/6 = 1/2.
	f(Refunded{Quantity: 1, AmountMinor: 5000}, 500)
	// Half-even at exactly .5: 1 of 2 units of an odd commission.
	f2 := func(c LineCommission, r Refunded, want int64) {
		t.Helper()
		if got := Reversed(c, r); got != want {
			t.Fatalf("Reversed(%+v, %+v) = %d, want %d", c, r, got, want)
		}
	}
	f2(LineCommission{Quantity: 2, BaseMinor: 100, AmountMinor: 5}, Refunded{Quantity: 1}, 2)
	f2(LineCommission{Quantity: 2, BaseMinor: 100, AmountMinor: 7}, Refunded{Quantity: 1}, 4)
	// A zero commission reverses nothing.
	f2(LineCommission{Quantity: 2, BaseMinor: 0, AmountMinor: 0}, Refunded{Quantity: 1}, 0)
	// Huge values stay exact (no int64 overflow in the intermediate product).
	f2(LineCommission{Quantity: math.MaxInt32, BaseMinor: math.MaxInt64, AmountMinor: math.MaxInt64},
		Refunded{Quantity: 1}, divExact(math.MaxInt64, math.MaxInt32))
}

// divExact is MaxInt64/MaxInt32 rounded half-even, computed independently.
func divExact(a, b int64) int64 {
	q, r := a/b, a%b
	if 2*r > b || (2*r == b && q%2 == 1) {
		q++
	}
	return q
}

func TestAllocateAmount(t *testing.T) {
	f := func(amount int64, remaining, want []int64) {
		t.Helper()
		got := AllocateAmount(amount, remaining)
		if len(got) != len(want) {
			t.Fatalf("AllocateAmount(%d, %v) = %v, want %v", amount, remaining, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("AllocateAmount(%d, %v) = %v, want %v", amount, remaining, got, want)
			}
		}
	}
	// Proportional.
	f(50, []int64{100, 100}, []int64{25, 25})
	// Truncated unit goes to the largest remainder, ties to the first.
	f(1, []int64{100, 100}, []int64{1, 0})
	f(10, []int64{1, 2}, []int64{1, 2})
	f(2, []int64{1, 2, 0}, []int64{1, 1, 0})
	// More than what is left: everything, no more.
	f(500, []int64{100, 50}, []int64{100, 50})
	// Nothing to refund.
	f(0, []int64{100}, []int64{0})
	f(10, []int64{0, 0}, []int64{0, 0})
	f(10, nil, []int64{})
}

// FuzzReversed checks the refund invariants for arbitrary lines and
// refunds: the reversal lies within [0, commission], never decreases as more
// is refunded, and a full refund reverses exactly the commission.
func FuzzReversed(f *testing.F) {
	f.Add(int64(3), int64(30000), int64(10), int64(1), int64(0), int64(1), int64(5000))
	f.Add(int64(1), int64(1), int64(0), int64(0), int64(1), int64(0), int64(0))
	f.Add(int64(math.MaxInt32), int64(math.MaxInt64), int64(100), int64(7), int64(1<<40), int64(1), int64(1))
	f.Fuzz(func(t *testing.T, qty, base int64, ratePct int64, q1, a1, q2, a2 int64) {
		if qty <= 0 || base < 0 {
			return
		}
		rate := money.Rate(((ratePct % 101) + 101) % 101 * money.RateScale)
		c := LineCommission{Quantity: qty, BaseMinor: base, Rate: rate, AmountMinor: money.ApplyRate(base, rate)}
		r1 := Refunded{Quantity: max(q1, 0), AmountMinor: max(a1, 0)}
		r2 := Refunded{Quantity: satAdd(r1.Quantity, max(q2, 0)), AmountMinor: satAdd(r1.AmountMinor, max(a2, 0))}
		v1, v2 := Reversed(c, r1), Reversed(c, r2)
		if v1 < 0 || v1 > c.AmountMinor || v2 < v1 || v2 > c.AmountMinor {
			t.Fatalf("Reversed(%+v): %+v → %d, %+v → %d", c, r1, v1, r2, v2)
		}
		if full := Reversed(c, Refunded{Quantity: qty}); full != c.AmountMinor {
			t.Fatalf("full refund of %+v reversed %d", c, full)
		}
	})
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// FuzzAllocateAmount checks that the parts are exact and bounded.
func FuzzAllocateAmount(f *testing.F) {
	f.Add(int64(10), int64(1), int64(2), int64(3))
	f.Add(int64(1), int64(100), int64(100), int64(0))
	f.Fuzz(func(t *testing.T, amount, r1, r2, r3 int64) {
		rem := []int64{r1 % (1 << 40), r2 % (1 << 40), r3 % (1 << 40)}
		got := AllocateAmount(amount, rem)
		var sum, total int64
		for i, g := range got {
			if g < 0 || g > max(rem[i], 0) {
				t.Fatalf("AllocateAmount(%d, %v) = %v: part %d out of range", amount, rem, got, i)
			}
			sum += g
			total += max(rem[i], 0)
		}
		if want := min(max(amount, 0), total); sum != want {
			t.Fatalf("AllocateAmount(%d, %v) = %v: sum %d, want %d", amount, rem, got, sum, want)
		}
	})
}

// FuzzCompute checks that a computed commission never exceeds its base and
// that Compute and Base agree.
func FuzzCompute(f *testing.F) {
	f.Add(int64(1), int64(14990), int64(0), int64(10))
	f.Add(int64(2), int64(50), int64(101), int64(100))
	f.Fuzz(func(t *testing.T, qty, unit, discount, ratePct int64) {
		rate := money.Rate(((ratePct % 101) + 101) % 101 * money.RateScale)
		l := Line{LineID: "x", Quantity: qty, UnitPriceMinor: unit, DiscountMinor: discount}
		got, err := Compute(1, []Line{l}, NewRates(rate))
		base, berr := Base(l)
		if (err == nil) != (berr == nil) {
			t.Fatalf("Compute error %v but Base error %v", err, berr)
		}
		if err != nil {
			return
		}
		if got[0].BaseMinor != base || got[0].AmountMinor < 0 || got[0].AmountMinor > base {
			t.Fatalf("Compute(%+v) = %+v", l, got[0])
		}
	})
}

func TestFullyRefunded(t *testing.T) {
	f := func(qty, base int64, r Refunded, want bool) {
		t.Helper()
		if got := FullyRefunded(qty, base, r); got != want {
			t.Fatalf("FullyRefunded(%d, %d, %+v) = %v, want %v", qty, base, r, got, want)
		}
	}
	f(3, 300, Refunded{}, false)
	f(3, 300, Refunded{Quantity: 2}, false)
	f(3, 300, Refunded{Quantity: 3}, true)
	f(3, 300, Refunded{AmountMinor: 299}, false)
	f(3, 300, Refunded{AmountMinor: 300}, true)
	// 2 of 3 units plus a third of the base is the whole line.
	f(3, 300, Refunded{Quantity: 2, AmountMinor: 100}, true)
	f(3, 300, Refunded{Quantity: 2, AmountMinor: 99}, false)
	// A free line is fully refunded once anything is.
	f(1, 0, Refunded{Quantity: 0}, false)
	f(2, 0, Refunded{Quantity: 1}, true)
}
