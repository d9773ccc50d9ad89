package settle

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDeviceAttributionEarnsEveryLine(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.click("d1", p, T0.Add(-time.Hour))
	f.events(placed("e1", "o1", "c1", "d1", T0, line("l1", "linked", 1, "100.00"), line("l2", "other", 2, "25.05")))
	// The sink has not caught up: the order waits.
	f.watermark(T0.Add(-time.Minute))
	if c := f.settle(T0.Add(time.Minute)); c.Attributed != 0 {
		t.Fatalf("attributed %d orders before the watermark passed", c.Attributed)
	}
	f.watermark(T0.Add(time.Minute))
	c := f.settle(T0.Add(2 * time.Minute))
	if c.Attributed != 1 || c.Commissions != 2 {
		t.Fatalf("counts %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleDevice || *a.PartnerID != p || a.Forced {
		t.Fatalf("attribution %+v", a)
	}
	// 10 % of 100.00 and of 50.10 (half-even per line).
	if got, want := f.commissions("o1"), "l1:1:1000:pending:0:0 l2:1:501:pending:0:0"; got != want {
		t.Fatalf("commissions %q, want %q", got, want)
	}
	if b := f.balance(p); b.PendingMinor != 1501 || b.AvailableMinor != 0 {
		t.Fatalf("balance %+v", b)
	}
	// A second pass finds nothing to do and changes nothing.
	if c := f.settle(T0.Add(3 * time.Minute)); c.Orders != 0 || c.Commissions != 0 {
		t.Fatalf("second pass %+v", c)
	}
	f.verify()
}

func TestMaxWaitForcesTheDecision(t *testing.T) {
	f := newFixture(t)
	f.events(placed("e1", "o1", "c1", "d1", T0, line("l1", "p", 1, "10.00")))
	// No watermark at all; the order was received "now" in database time,
	// so a pass an hour and more later decides it, flagged.
	c := f.settle(time.Now().Add(2 * time.Hour))
	if c.Attributed != 1 || c.Forced != 1 {
		t.Fatalf("counts %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleNone || !a.Forced || a.PartnerID != nil {
		t.Fatalf("attribution %+v", a)
	}
}

func TestCustomerBindingAndDeviceRules(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	q := f.partner("other")
	// The visitor clicks Serdar's link on their phone and logs in within 24 h.
	f.click("phone", p, T0)
	f.events(identity("i1", "alice", "phone", T0.Add(2*time.Hour)))
	// Days later, Alice buys from her laptop without a link: binding.
	f.events(placed("e1", "o1", "alice", "laptop", T0.Add(72*time.Hour), line("l1", "x", 1, "10.00")))
	// Bob logs in on the same phone two days after the click: outside the
	// binding window, so Bob is not bound, but his order on the phone is
	// credited through the device.
	f.events(identity("i2", "bob", "phone", T0.Add(48*time.Hour)))
	f.events(placed("e2", "o2", "bob", "phone", T0.Add(49*time.Hour), line("l1", "x", 1, "10.00")))
	// Bob on his own laptop: nobody, until that laptop comes through a link.
	f.events(placed("e3", "o3", "bob", "bob-laptop", T0.Add(50*time.Hour), line("l1", "x", 1, "10.00")))
	f.click("bob-laptop", q, T0.Add(51*time.Hour))
	f.events(placed("e4", "o4", "bob", "bob-laptop", T0.Add(52*time.Hour), line("l1", "x", 1, "10.00")))
	f.watermark(T0.Add(100 * time.Hour))
	c := f.settle(T0.Add(100 * time.Hour))
	if c.Bindings != 1 || c.Identities != 2 || c.Attributed != 4 {
		t.Fatalf("counts %+v", c)
	}
	f2 := func(order, rule string, partner *int64) {
		t.Helper()
		a := f.attribution(order)
		if a.Rule != rule || (partner == nil) != (a.PartnerID == nil) || (partner != nil && *partner != *a.PartnerID) {
			t.Fatalf("%s: attribution %+v, want %s %v", order, a, rule, partner)
		}
	}
	f2("o1", RuleBinding, &p)
	f2("o2", RuleDevice, &p)
	f2("o3", RuleNone, nil)
	f2("o4", RuleDevice, &q)
	// Every candidate is recorded, the binding's too.
	cands := queryOne[string](t, f.pool, `SELECT candidates::text FROM attributions WHERE order_id = 'o1'`)
	if !strings.Contains(cands, `"rule": "customer_binding"`) || !strings.Contains(cands, `"rule": "device"`) || !strings.Contains(cands, `"rule": "order_override"`) {
		t.Fatalf("candidates %s", cands)
	}
}

func TestAlreadyBoundCustomerStaysWithFirstPartner(t *testing.T) {
	f := newFixture(t)
	p := f.partner("first")
	q := f.partner("second")
	f.click("d1", p, T0)
	f.click("d2", q, T0.Add(time.Hour))
	f.events(identity("i1", "alice", "d1", T0.Add(time.Minute)), identity("i2", "alice", "d2", T0.Add(2*time.Hour)))
	f.watermark(T0.Add(3 * time.Hour))
	if c := f.settle(T0.Add(3 * time.Hour)); c.Bindings != 1 {
		t.Fatalf("counts %+v", c)
	}
	if got := queryOne[int64](t, f.pool, `SELECT partner_id FROM customer_bindings WHERE customer_id = 'alice' AND detached_at IS NULL`); got != p {
		t.Fatalf("alice bound to %d, want %d", got, p)
	}
}

func TestSelfReferralIsRefusedAndFlagged(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.exec(`UPDATE partners SET customer_id = 'serdar-at-shop' WHERE id = $1`, p)
	f.click("d1", p, T0)
	f.events(placed("e1", "o1", "serdar-at-shop", "d1", T0.Add(time.Minute), line("l1", "x", 1, "10.00")))
	f.watermark(T0.Add(time.Hour))
	c := f.settle(T0.Add(time.Hour))
	if c.SelfReferrals != 1 || c.Commissions != 0 {
		t.Fatalf("counts %+v", c)
	}
	if a := f.attribution("o1"); !a.SelfRef || *a.PartnerID != p {
		t.Fatalf("attribution %+v", a)
	}
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM self_referrals WHERE order_id = 'o1'`); n != 1 {
		t.Fatalf("self_referrals rows %d", n)
	}
	if b := f.balance(p); b.PendingMinor != 0 {
		t.Fatalf("balance %+v", b)
	}
}

// A partner's own shop account is known by its e-mail too, not only by the
// customer_id an admin may set: an order by a customer with the partner's
// e-mail, or its login's, never earns the partner commission.
func TestSelfReferralByEmail(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar") // serdar@example.com
	f.exec(`INSERT INTO users (email, password_hash, role, partner_id) VALUES ('serdar.work@example.com', 'x', 'partner', $1)`, p)
	f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES
		('serdar-shop', 'Serdar@Example.com', $1), ('serdar-work', 'serdar.work@example.com', $1), ('alice', 'alice@example.com', $1)`, T0)
	f.click("d1", p, T0)
	at := T0.Add(time.Minute)
	f.events(placed("e1", "o1", "serdar-shop", "d1", at, line("l1", "x", 1, "10.00")),
		placed("e2", "o2", "serdar-work", "d1", at, line("l1", "x", 1, "10.00")),
		placed("e3", "o3", "alice", "d1", at, line("l1", "x", 1, "10.00")))
	f.watermark(T0.Add(time.Hour))
	c := f.settle(T0.Add(time.Hour))
	if c.SelfReferrals != 2 || c.Commissions != 1 {
		t.Fatalf("counts %+v, want o1 and o2 refused as self-referrals and o3 earning", c)
	}
	for _, o := range []string{"o1", "o2"} {
		if a := f.attribution(o); !a.SelfRef || *a.PartnerID != p {
			t.Fatalf("%s: attribution %+v, want a self-referral of the partner", o, a)
		}
	}
	if a := f.attribution("o3"); a.SelfRef {
		t.Fatalf("o3: attribution %+v", a)
	}
}

func TestMostSpecificRateIsStored(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.exec(`INSERT INTO commission_rates (partner_id, product_id, rate_upct) VALUES ($1, 'book', 15000000)`, p)
	f.exec(`INSERT INTO commission_rates (category_id, rate_upct) VALUES ('shoes', 5000000)`)
	f.exec(`UPDATE partners SET default_rate_upct = 12000000 WHERE id = $1`, p)
	f.click("d1", p, T0)
	f.events(placed("e1", "o1", "c1", "d1", T0.Add(time.Minute),
		line("a", "book", 1, "10.00"),
		`{"line_id":"b","product_id":"boot","category_id":"shoes","quantity":1,"unit_price":"10.00"}`,
		line("c", "misc", 1, "10.00")))
	f.watermark(T0.Add(time.Hour))
	f.settle(T0.Add(time.Hour))
	rows, _ := f.pool.Query(t.Context(), `SELECT line_id || ':' || rate_upct || ':' || rate_rule || ':' || amount_minor FROM commissions ORDER BY line_id`)
	var got []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		got = append(got, s)
	}
	want := []string{"a:15000000:partner_product:150", "b:5000000:category:50", "c:12000000:partner_default:120"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("commissions %v, want %v", got, want)
	}
}

func TestBindingWaitsForTheWatermark(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.click("d1", p, T0)
	f.events(identity("i1", "alice", "d1", T0.Add(2*time.Hour)))
	// The sink has only seen clicks up to T0+1h: the identity waits, even
	// though its click is already in ClickHouse.
	f.watermark(T0.Add(time.Hour))
	if c := f.settle(T0.Add(2 * time.Hour)); c.Identities != 0 || c.Bindings != 0 {
		t.Fatalf("counts before the watermark %+v", c)
	}
	f.watermark(T0.Add(3 * time.Hour))
	if c := f.settle(T0.Add(3 * time.Hour)); c.Identities != 1 || c.Bindings != 1 {
		t.Fatalf("counts after the watermark %+v", c)
	}
	// Evaluated once: a later pass does not look at it again.
	if c := f.settle(T0.Add(4 * time.Hour)); c.Identities != 0 {
		t.Fatalf("identity evaluated twice: %+v", c)
	}
}

func TestBotAndExpiredClicksDoNotAttribute(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	// A click older than the attribution window (365 days by default).
	f.click("d1", p, T0.Add(-366*24*time.Hour))
	f.events(placed("e1", "o1", "c1", "d1", T0, line("l1", "x", 1, "10.00")))
	// A click after the order does not count either.
	f.click("d2", p, T0.Add(time.Minute))
	f.events(placed("e2", "o2", "c2", "d2", T0, line("l1", "x", 1, "10.00")))
	f.watermark(T0.Add(time.Hour))
	f.settle(T0.Add(time.Hour))
	for _, o := range []string{"o1", "o2"} {
		if a := f.attribution(o); a.Rule != RuleNone {
			t.Fatalf("%s: attribution %+v, want none", o, a)
		}
	}
}

// The binding and order steps of a pass use one watermark. Were the order
// step to read one that moved on meanwhile, it would decide an order whose
// customer's binding (an identity between the two watermarks, before the
// order) was not made yet, and the binding rule would be missed for good.
func TestOnePassOneWatermark(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.click("laptop", p, T0.Add(-10*time.Minute))
	f.events(identity("i1", "alice", "laptop", T0.Add(5*time.Minute)))
	// Alice orders from her phone, which never came through a link.
	f.events(placed("e1", "o1", "alice", "phone", T0.Add(10*time.Minute), line("l1", "x", 1, "100.00")))
	f.watermark(T0)
	f.s.afterBind = func() { f.watermark(T0.Add(20 * time.Minute)) }
	if c := f.settle(T0.Add(21 * time.Minute)); c.Bindings != 0 || c.Attributed != 0 {
		t.Fatalf("first pass %+v: the order step used a later watermark than the binding step", c)
	}
	f.s.afterBind = nil
	if c := f.settle(T0.Add(22 * time.Minute)); c.Bindings != 1 || c.Attributed != 1 {
		t.Fatalf("second pass %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleBinding || a.PartnerID == nil || *a.PartnerID != p {
		t.Fatalf("attribution %+v, want the customer binding to %d", a, p)
	}
	f.verify()
}

// A suspended partner earns nothing new: its clicks bind no customer, its
// binding and device candidates are recorded as suspended and do not win
// (the next rule does), while an admin's override to it holds. Active
// again, it earns again.
func TestSuspendedPartnerEarnsNothingNew(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	q := f.partner("other")
	f.click("phone", p, T0)
	f.events(identity("i0", "alice", "phone", T0.Add(time.Hour)))
	f.watermark(T0.Add(2 * time.Hour))
	if c := f.settle(T0.Add(2 * time.Hour)); c.Bindings != 1 {
		t.Fatalf("binding before the suspension: %+v", c)
	}
	f.exec(`UPDATE partners SET status = 'suspended' WHERE id = $1`, p)
	f.click("tablet", p, T0.Add(3*time.Hour))
	f.events(identity("i1", "bob", "tablet", T0.Add(4*time.Hour)))
	f.click("laptop", q, T0.Add(3*time.Hour))
	// Alice (bound to p) orders from a laptop q's link came through: the
	// device rule wins over the suspended partner's binding. Bob orders on
	// p's tablet: nobody. Carol's order is given to p by the admin.
	f.events(placed("e1", "o1", "alice", "laptop", T0.Add(5*time.Hour), line("l1", "x", 1, "10.00")),
		placed("e2", "o2", "bob", "tablet", T0.Add(5*time.Hour), line("l1", "x", 1, "10.00")),
		placed("e3", "o3", "carol", "carol-pc", T0.Add(5*time.Hour), line("l1", "x", 1, "10.00")))
	f.override("o3", &p)
	f.watermark(T0.Add(6 * time.Hour))
	if c := f.settle(T0.Add(6 * time.Hour)); c.Bindings != 0 || c.Attributed != 3 {
		t.Fatalf("counts while suspended %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleDevice || *a.PartnerID != q {
		t.Fatalf("o1: %+v, want the device rule for %d", a, q)
	}
	if a := f.attribution("o2"); a.Rule != RuleNone {
		t.Fatalf("o2: %+v, want none", a)
	}
	if a := f.attribution("o3"); a.Rule != RuleOverride || *a.PartnerID != p {
		t.Fatalf("o3: %+v, want the override to %d", a, p)
	}
	cands := queryOne[string](t, f.pool, `SELECT candidates::text FROM attributions WHERE order_id = 'o2'`)
	if !strings.Contains(cands, `"reason": "partner suspended"`) || !strings.Contains(cands, fmt.Sprintf(`"partner_id": %d`, p)) {
		t.Fatalf("o2's candidates do not show the suspended partner: %s", cands)
	}
	if b := f.balance(p); b.PendingMinor != 100 {
		t.Fatalf("suspended partner's pending %d, want 100 (the override only)", b.PendingMinor)
	}
	// Active again: Bob's next order on the tablet is p's.
	f.exec(`UPDATE partners SET status = 'active' WHERE id = $1`, p)
	f.events(placed("e4", "o4", "bob", "tablet", T0.Add(7*time.Hour), line("l1", "x", 1, "10.00")))
	f.watermark(T0.Add(8 * time.Hour))
	f.settle(T0.Add(8 * time.Hour))
	if a := f.attribution("o4"); a.Rule != RuleDevice || *a.PartnerID != p {
		t.Fatalf("o4: %+v, want the device rule for %d", a, p)
	}
	f.verify()
}

// A login that waited the maximum wait for the clicks watermark is decided
// anyway; bindings have no flag of their own, so the run counts it.
func TestMaxWaitForcedIdentitiesCounted(t *testing.T) {
	f := newFixture(t)
	f.events(identity("i1", "c1", "d1", T0))
	if c := f.settle(T0.Add(time.Minute)); c.Identities != 0 || c.IdentitiesForced != 0 {
		t.Fatalf("a pass within the wait: counts %+v, want the identity waiting", c)
	}
	if c := f.settle(time.Now().Add(2 * time.Hour)); c.Identities != 1 || c.IdentitiesForced != 1 {
		t.Fatalf("counts %+v, want one identity decided forced", c)
	}
}
