package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// model is an in-memory re-implementation of the partner money rules, used to predict the
// outcome of every operation and the final balances.
type model struct {
	bal   map[[2]string]Balance // (partner, currency) → balance
	comms map[string]mcomm
	reqs  map[string]mreq // payouts and store-credit requests
}

type mcomm struct {
	partner, cur           string
	remaining              int64 // pending, not yet voided or approved
	open                   bool
	approved, held, clawed int64
	isApproved             bool
}

type mreq struct {
	partner, cur string
	amount       int64
	open         bool
	storeCredit  bool
}

func newModel() *model {
	return &model{bal: map[[2]string]Balance{}, comms: map[string]mcomm{}, reqs: map[string]mreq{}}
}

func (m *model) clone() *model {
	return &model{bal: maps.Clone(m.bal), comms: maps.Clone(m.comms), reqs: maps.Clone(m.reqs)}
}

func (m *model) update(partner, cur string, f func(b *Balance)) {
	k := [2]string{partner, cur}
	b := m.bal[k]
	b.Currency = cur
	f(&b)
	m.bal[k] = b
}

// apply predicts op's outcome: the sentinel error it must fail with, or nil after
// applying its effect to m.
func (m *model) apply(op Op) error {
	switch p := op.(type) {
	case AccrueParams:
		if _, ok := m.comms[p.CommissionID]; ok {
			return ErrDuplicateReference
		}
		m.comms[p.CommissionID] = mcomm{partner: p.PartnerID, cur: p.Currency, remaining: p.AmountMinor, open: true}
		m.update(p.PartnerID, p.Currency, func(b *Balance) { b.PendingMinor += p.AmountMinor })
	case AccrueGroupParams:
		for _, c := range p.Commissions {
			if _, ok := m.comms[c.CommissionID]; ok {
				return ErrDuplicateReference
			}
		}
		for _, c := range p.Commissions {
			m.comms[c.CommissionID] = mcomm{partner: p.PartnerID, cur: p.Currency, remaining: c.AmountMinor, open: true}
			m.update(p.PartnerID, p.Currency, func(b *Balance) { b.PendingMinor += c.AmountMinor })
		}
	case PartialVoidParams, VoidParams:
		id, amount := "", int64(0)
		if pv, ok := p.(PartialVoidParams); ok {
			id, amount = pv.CommissionID, pv.AmountMinor
		} else {
			id = p.(VoidParams).CommissionID
		}
		c, ok := m.comms[id]
		switch {
		case !ok:
			return ErrNotFound
		case !c.open:
			return ErrPendingResolved
		case amount > c.remaining:
			return ErrExceedsRemaining
		case amount == 0:
			amount = c.remaining
		}
		c.remaining -= amount
		c.open = c.remaining > 0
		m.comms[id] = c
		m.update(c.partner, c.cur, func(b *Balance) { b.PendingMinor -= amount })
	case ApproveParams:
		c, ok := m.comms[p.CommissionID]
		switch {
		case !ok:
			return ErrNotFound
		case !c.open:
			return ErrPendingResolved
		}
		amount := c.remaining
		if p.AmountMinor > c.remaining {
			return ErrExceedsRemaining
		} else if p.AmountMinor > 0 {
			amount = p.AmountMinor
		}
		held := amount * p.ReserveBasisPoints / 10000
		c.approved, c.held, c.isApproved, c.open = amount, held, true, false
		m.update(c.partner, c.cur, func(b *Balance) {
			b.PendingMinor -= c.remaining
			b.AvailableMinor += amount - held
			b.ReservedMinor += held
		})
		c.remaining = 0
		m.comms[p.CommissionID] = c
	case ReleaseReserveParams:
		c, ok := m.comms[p.CommissionID]
		switch {
		case !ok || !c.isApproved:
			return ErrNotFound
		case c.held == 0:
			return ErrNothingToRelease
		}
		m.update(c.partner, c.cur, func(b *Balance) { b.ReservedMinor -= c.held; b.AvailableMinor += c.held })
		c.held = 0
		m.comms[p.CommissionID] = c
	case ClawbackParams:
		c, ok := m.comms[p.CommissionID]
		switch {
		case !ok || !c.isApproved:
			return ErrNotFound
		case p.AmountMinor > c.approved-c.clawed:
			return ErrExceedsRemaining
		}
		fromReserve := min(c.held, p.AmountMinor)
		c.held -= fromReserve
		c.clawed += p.AmountMinor
		m.comms[p.CommissionID] = c
		m.update(c.partner, c.cur, func(b *Balance) {
			b.ReservedMinor -= fromReserve
			b.AvailableMinor -= p.AmountMinor - fromReserve
		})
	case PenaltyParams:
		m.update(p.PartnerID, p.Currency, func(b *Balance) { b.AvailableMinor -= p.AmountMinor })
	case AdjustmentParams:
		m.update(p.PartnerID, p.Currency, func(b *Balance) { b.AvailableMinor += p.AmountMinor })
	case PayoutRequestParams:
		return m.request(p.PayoutID, p.PartnerID, p.Currency, p.AmountMinor, false)
	case StoreCreditRequestParams:
		return m.request(p.RequestID, p.PartnerID, p.Currency, p.AmountMinor, true)
	case PayoutPaidParams:
		return m.resolve(p.PayoutID, false, true)
	case PayoutFailedParams:
		return m.resolve(p.PayoutID, false, false)
	case StoreCreditApprovedParams:
		return m.resolve(p.RequestID, true, true)
	case StoreCreditRejectedParams:
		return m.resolve(p.RequestID, true, false)
	default:
		panic(fmt.Sprintf("model: unknown op %T", op))
	}
	return nil
}

func (m *model) request(id, partner, cur string, amount int64, storeCredit bool) error {
	if _, ok := m.reqs[id]; ok {
		return ErrDuplicateReference
	}
	if m.bal[[2]string{partner, cur}].AvailableMinor < amount {
		return ErrInsufficientFunds
	}
	m.reqs[id] = mreq{partner: partner, cur: cur, amount: amount, open: true, storeCredit: storeCredit}
	m.update(partner, cur, func(b *Balance) { b.AvailableMinor -= amount; b.InFlightMinor += amount })
	return nil
}

func (m *model) resolve(id string, storeCredit, post bool) error {
	r, ok := m.reqs[id]
	switch {
	case !ok || r.storeCredit != storeCredit:
		return ErrNotFound
	case !r.open:
		return ErrPendingResolved
	}
	r.open = false
	m.reqs[id] = r
	m.update(r.partner, r.cur, func(b *Balance) {
		b.InFlightMinor -= r.amount
		switch {
		case !post:
			b.AvailableMinor += r.amount
		case !storeCredit:
			b.PaidOutMinor += r.amount
		}
	})
	return nil
}

// gen makes random operations for one worker's partners, mostly valid, some bound to fail.
type gen struct {
	rng      *rand.Rand
	prefix   string
	seq      int
	m        *model
	comms    []string
	reqs     []string
	partners []string
}

func (g *gen) next() Op {
	g.seq++
	key := fmt.Sprintf("%s-k%d", g.prefix, g.seq)
	partner := g.partners[g.rng.IntN(len(g.partners))]
	cur := []string{"EUR", "USD"}[g.rng.IntN(2)]
	amount := 1 + g.rng.Int64N(5000)
	pick := func(ids []string) string {
		if len(ids) == 0 {
			return g.prefix + "-none"
		}
		return ids[g.rng.IntN(len(ids))]
	}
	switch n := g.rng.IntN(100); {
	case n < 10: // the commissions of one order: each resolved on its own later
		p := AccrueGroupParams{Key: key, PartnerID: partner, Currency: cur, GroupID: "o" + key}
		earlier, picked := g.comms, false
		for i := range 1 + g.rng.IntN(4) {
			id := fmt.Sprintf("%s-c%d-%d", g.prefix, g.seq, i)
			if !picked && g.rng.IntN(15) == 0 {
				id, picked = pick(earlier), true // already accrued (mostly): the group is refused
			} else {
				g.comms = append(g.comms, id)
			}
			p.Commissions = append(p.Commissions, GroupAccrual{CommissionID: id, AmountMinor: 1 + g.rng.Int64N(5000)})
		}
		return p
	case n < 25:
		id := fmt.Sprintf("%s-c%d", g.prefix, g.seq)
		g.comms = append(g.comms, id)
		return AccrueParams{Key: key, PartnerID: partner, Currency: cur, AmountMinor: amount, CommissionID: id}
	case n < 32:
		return PartialVoidParams{Key: key, CommissionID: pick(g.comms), AmountMinor: 1 + g.rng.Int64N(3000)}
	case n < 36:
		return VoidParams{Key: key, CommissionID: pick(g.comms)}
	case n < 50:
		return ApproveParams{Key: key, CommissionID: pick(g.comms), ReserveBasisPoints: g.rng.Int64N(3001), ReleaseAt: time.Unix(1.8e9+g.rng.Int64N(1e6), 0)}
	case n < 55: // a partial post: the rest is voided
		return ApproveParams{Key: key, CommissionID: pick(g.comms), ReserveBasisPoints: g.rng.Int64N(3001), ReleaseAt: time.Unix(1.8e9+g.rng.Int64N(1e6), 0), AmountMinor: 1 + g.rng.Int64N(3000)}
	case n < 60:
		return ReleaseReserveParams{Key: key, CommissionID: pick(g.comms)}
	case n < 66:
		return ClawbackParams{Key: key, CommissionID: pick(g.comms), AmountMinor: 1 + g.rng.Int64N(2000)}
	case n < 69:
		return PenaltyParams{Key: key, PartnerID: partner, Currency: cur, AmountMinor: 1 + g.rng.Int64N(500), OrderID: "o" + key}
	case n < 73:
		return AdjustmentParams{Key: key, PartnerID: partner, Currency: cur, AmountMinor: g.rng.Int64N(2001) - 1000 | 1, Reason: "r"}
	case n < 82:
		id := fmt.Sprintf("%s-r%d", g.prefix, g.seq)
		g.reqs = append(g.reqs, id)
		if g.rng.IntN(2) == 0 {
			return StoreCreditRequestParams{Key: key, PartnerID: partner, Currency: cur, AmountMinor: 1 + amount/2, RequestID: id, CustomerID: "cust"}
		}
		return PayoutRequestParams{Key: key, PartnerID: partner, Currency: cur, AmountMinor: 1 + amount/2, PayoutID: id}
	case n < 86:
		return PayoutPaidParams{Key: key, PayoutID: pick(g.reqs)}
	case n < 89:
		return PayoutFailedParams{Key: key, PayoutID: pick(g.reqs)}
	case n < 93:
		return StoreCreditApprovedParams{Key: key, RequestID: pick(g.reqs)}
	default:
		return StoreCreditRejectedParams{Key: key, RequestID: pick(g.reqs)}
	}
}

// TestPropertyRandomOps runs thousands of random operations from several goroutines at
// once (single calls, batches and replays), each checked against the model, then checks
// Verify and every balance against the model.
func TestPropertyRandomOps(t *testing.T) {
	l, _ := newLedger(t, 10)
	ctx := context.Background()
	const workers, steps = 4, 500
	models := make([]*model, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		g := &gen{rng: rand.New(rand.NewPCG(uint64(w), 42)), prefix: fmt.Sprintf("w%d", w), m: newModel()}
		for p := range 3 {
			g.partners = append(g.partners, fmt.Sprintf("w%d-p%d", w, p))
		}
		models[w] = g.m
		wg.Go(func() { errs <- runWorker(ctx, l, g, steps) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, l)
	checked := 0
	for _, m := range models {
		for k, want := range m.bal {
			mustBalance(t, l, k[0], want)
			checked++
		}
	}
	if checked < workers*3 {
		t.Fatalf("only %d balances checked", checked)
	}
	// Balances lists every currency of a partner, sorted.
	all, err := l.Balances(ctx, "w0-p0")
	if err != nil {
		t.Fatal(err)
	}
	var want []Balance
	for _, cur := range []string{"EUR", "USD"} {
		if b, ok := models[0].bal[[2]string{"w0-p0", cur}]; ok {
			want = append(want, b)
		}
	}
	if !slices.Equal(all, want) {
		t.Fatalf("Balances(w0-p0) = %+v, want %+v", all, want)
	}
}

func runWorker(ctx context.Context, l *Ledger, g *gen, steps int) error {
	type done struct {
		op Op
		id int64
	}
	var history []done
	for step := 0; step < steps; step++ {
		switch n := g.rng.IntN(20); {
		case n == 0 && len(history) > 0:
			// Replay an earlier successful operation: same transfer, no effect.
			h := history[g.rng.IntN(len(history))]
			out, err := l.Batch(ctx, []Op{h.op})
			if err != nil || !out[0].Replayed || out[0].ID != h.id {
				return fmt.Errorf("%s: replay of %+v = %+v, %v; want transfer %d replayed", g.prefix, h.op, out, err, h.id)
			}
		case n < 3:
			// A batch: all or nothing; the model predicts the first failing operation.
			ops := make([]Op, 2+g.rng.IntN(15))
			next := g.m.clone()
			failAt, var_err := -1, error(nil)
			for i := range ops {
				ops[i] = g.next()
				if failAt < 0 {
					if err := next.apply(ops[i]); err != nil {
						failAt, var_err = i, err
					}
				}
			}
			out, err := l.Batch(ctx, ops)
			if failAt >= 0 {
				var be *BatchError
				// A commission accrued before the batch is refused by ledger_pending's key
				// when the batch writes (not looked up: see queuePendingLocks), so a later
				// operation's own error may be reported first.
				later := errors.Is(var_err, ErrDuplicateReference) && errors.As(err, &be) && be.Index > failAt
				if !later && (!errors.As(err, &be) || be.Index != failAt || !errors.Is(err, var_err)) {
					return fmt.Errorf("%s: batch %d: error %v, want %v at %d", g.prefix, step, err, var_err, failAt)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: batch %d: %v", g.prefix, step, err)
			}
			g.m.bal, g.m.comms, g.m.reqs = next.bal, next.comms, next.reqs
			for i, op := range ops {
				history = append(history, done{op, out[i].ID})
			}
		default:
			op := g.next()
			want := g.m.apply(op)
			out, err := l.Batch(ctx, []Op{op})
			if !errors.Is(err, want) || (want == nil && err != nil) {
				return fmt.Errorf("%s: step %d: %+v: error %v, want %v", g.prefix, step, op, err, want)
			}
			if err == nil {
				history = append(history, done{op, out[0].ID})
			}
		}
	}
	return nil
}
