package ledger

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRequestHash: the hash covers the operation and every field but the key.
func TestRequestHash(t *testing.T) {
	hash := func(op Op) []byte {
		t.Helper()
		r, err := newRequest(op)
		if err != nil {
			t.Fatalf("newRequest(%+v): %v", op, err)
		}
		return r.hash
	}
	base := AdjustmentParams{Key: "k1", PartnerID: "p", Currency: "EUR", AmountMinor: 5, Reason: "r"}
	f := func(other Op, same bool) {
		t.Helper()
		if got := bytes.Equal(hash(base), hash(other)); got != same {
			t.Fatalf("hash(%+v) == hash(%+v) is %v, want %v", base, other, got, same)
		}
	}
	// the key is not part of the request
	f(AdjustmentParams{Key: "k2", PartnerID: "p", Currency: "EUR", AmountMinor: 5, Reason: "r"}, true)
	// every field is
	f(AdjustmentParams{Key: "k1", PartnerID: "q", Currency: "EUR", AmountMinor: 5, Reason: "r"}, false)
	f(AdjustmentParams{Key: "k1", PartnerID: "p", Currency: "USD", AmountMinor: 5, Reason: "r"}, false)
	f(AdjustmentParams{Key: "k1", PartnerID: "p", Currency: "EUR", AmountMinor: -5, Reason: "r"}, false)
	f(AdjustmentParams{Key: "k1", PartnerID: "p", Currency: "EUR", AmountMinor: 5, Reason: "s"}, false)
	// the same fields under another operation are another request
	f(PenaltyParams{Key: "k1", PartnerID: "p", Currency: "EUR", AmountMinor: 5, OrderID: "r"}, false)

	// A group accrual's hash covers every commission, in order.
	group := func(cs ...GroupAccrual) []byte {
		return hash(AccrueGroupParams{Key: "g", PartnerID: "p", Currency: "EUR", GroupID: "o", Commissions: cs})
	}
	g := group(GroupAccrual{"a", 1}, GroupAccrual{"b", 2})
	for _, other := range [][]byte{group(GroupAccrual{"a", 1}), group(GroupAccrual{"b", 2}, GroupAccrual{"a", 1}),
		group(GroupAccrual{"a", 1}, GroupAccrual{"b", 3}), group(GroupAccrual{"a", 1}, GroupAccrual{"c", 2})} {
		if bytes.Equal(g, other) {
			t.Fatal("two different groups hash alike")
		}
	}

	// A release time is compared at the precision Postgres keeps, in UTC.
	at := time.Date(2030, 1, 2, 3, 4, 5, 6007, time.FixedZone("x", 3600))
	a := hash(ApproveParams{Key: "a", CommissionID: "c", ReleaseAt: at})
	b := hash(ApproveParams{Key: "a", CommissionID: "c", ReleaseAt: at.UTC().Truncate(time.Microsecond)})
	if !bytes.Equal(a, b) {
		t.Fatal("the same instant in another zone or with nanoseconds hashes differently")
	}
}

// FuzzRequest: any input is either refused with a FieldError or accepted with a 32-byte
// hash that does not depend on the key; nothing panics.
func FuzzRequest(f *testing.F) {
	f.Add("k", "p1", "EUR", int64(100), "c1", "reason")
	f.Add("", "", "", int64(0), "", "")
	f.Add("k", "p\x00", "eur", int64(-1), "c", "r")
	f.Add("k", "p", "EUR", MaxAmountMinor+1, "c", "\xff")
	f.Add("k", "p", "EU", int64(1)<<62, "c", "")
	f.Fuzz(func(t *testing.T, key, partner, currency string, amount int64, ref, note string) {
		ops := []Op{
			AccrueParams{Key: key, PartnerID: partner, Currency: currency, AmountMinor: amount, CommissionID: ref},
			AdjustmentParams{Key: key, PartnerID: partner, Currency: currency, AmountMinor: amount, Reason: note},
			PartialVoidParams{Key: key, CommissionID: ref, AmountMinor: amount},
			ApproveParams{Key: key, CommissionID: ref, ReserveBasisPoints: amount % 20000, ReleaseAt: time.Unix(amount%1e10, 0), AmountMinor: amount},
			StoreCreditRequestParams{Key: key, PartnerID: partner, Currency: currency, AmountMinor: amount, RequestID: ref, CustomerID: note},
			AccrueGroupParams{Key: key, PartnerID: partner, Currency: currency, GroupID: note,
				Commissions: []GroupAccrual{{ref, amount}, {note, amount / 3}}},
		}
		for _, op := range ops {
			r, err := newRequest(op)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field == "" {
					t.Fatalf("newRequest(%+v) = %v, want a FieldError", op, err)
				}
				continue
			}
			if len(r.hash) != 32 || r.key != key {
				t.Fatalf("newRequest(%+v): hash %x, key %q", op, r.hash, r.key)
			}
			if r.amount < -MaxAmountMinor || r.amount > MaxAmountMinor {
				t.Fatalf("newRequest(%+v) accepted amount %d", op, r.amount)
			}
		}
		// The key never changes the hash.
		a, errA := newRequest(AdjustmentParams{Key: "a", PartnerID: partner, Currency: currency, AmountMinor: amount, Reason: note})
		b, errB := newRequest(AdjustmentParams{Key: "b", PartnerID: partner, Currency: currency, AmountMinor: amount, Reason: note})
		if (errA == nil) != (errB == nil) || (errA == nil && !bytes.Equal(a.hash, b.hash)) {
			t.Fatalf("the key changed the outcome: %v / %v", errA, errB)
		}
	})
}
