package settle

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/attribution"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/pgcopy"
	"github.com/openaff/affiliate/settler/internal/commission"
)

// Attribution rules (DESIGN §5), in order.
const (
	RuleOverride = "order_override"
	RuleBinding  = "customer_binding"
	RuleDevice   = "device"
	RuleNone     = "none"
)

// cursor is the keyset position of the order step within one pass.
type cursor struct {
	placedAt time.Time
	orderID  string
}

type orderRow struct {
	OrderID, CustomerID, DeviceToken, Currency string
	PlacedAt, CreatedAt                        time.Time
	Revision                                   int64
	Cancelled                                  bool
}

type attrRow struct {
	Version      int
	PartnerID    *int64
	OverrideID   *int64
	SelfReferral bool
}

type overrideRow struct {
	ID        int64
	PartnerID *int64
}

type bindingRow struct {
	ID        int64
	PartnerID int64
}

type lineRow struct {
	LineID, ProductID, CategoryID    string
	Quantity, UnitPrice, Discount    int64
	RefundedQuantity, RefundedAmount int64
}

type commissionRow struct {
	ID                           int64 // 0 for a row created in this batch, not yet inserted
	LineID                       string
	Version                      int
	PartnerID                    int64
	Currency                     string
	Base, Amount, Voided, Clawed int64
	State                        string
	LedgerRef                    *string
	// Set on new rows only.
	orderID    string
	rateUpct   int64
	rateRule   string
	accrualKey string // the ledger key of the order's group accrual; "" when nothing accrued
}

// batch holds everything one order batch reads, keyed by order id.
type batch struct {
	orders      []orderRow
	attrs       map[string]attrRow
	overrides   map[string]overrideRow
	lines       map[string][]lineRow
	commissions map[string][]*commissionRow
	partners    map[int64]partnerInfo
	// owners are, per customer, the partners whose e-mail or login's
	// e-mail the customer has (ownersOnce).
	owners map[string][]int64
	rates  *commission.Rates
	prog   Program
	wm     time.Time
	now    time.Time
	ops    []ledger.Op
	counts Counts
	// Rows written in bulk at the end of the batch (flush).
	newAttrs       [][]any
	candidates     []byte // the newAttrs' candidates, end to end
	newCommissions []*commissionRow
	facts          []fact
}

// orderBatch settles one batch of changed orders after cur. It returns the
// cursor after the batch and how many orders it read.
func (s *Settler) orderBatch(ctx context.Context, now, wm time.Time, cur cursor, owners *ownersOnce) (Counts, cursor, int, error) {
	var (
		b    *batch
		next cursor
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		b, err = s.readBatch(ctx, tx, now, wm, cur)
		if err != nil || len(b.orders) == 0 {
			return err
		}
		if b.owners, err = owners.get(ctx, s.pool); err != nil {
			return err
		}
		last := b.orders[len(b.orders)-1]
		next = cursor{placedAt: last.PlacedAt, orderID: last.OrderID}
		if err := s.decideAll(ctx, tx, b); err != nil {
			return err
		}
		return s.applyOps(ctx, tx, b.ops)
	})
	if err != nil {
		return Counts{}, cur, 0, err
	}
	return b.counts, next, len(b.orders), nil
}

// applyOps applies a batch's ledger operations in order inside tx, in as
// many calls as ledger.MaxBatchOps requires: a batch of orders with many
// lines (up to 1000 each) can hold more commissions than one call takes,
// and a group accrual counts its commissions. Later calls see what earlier
// ones wrote (one transaction), and each operation is idempotent on its
// own, so the split changes nothing but the number of calls.
func (s *Settler) applyOps(ctx context.Context, tx pgx.Tx, ops []ledger.Op) error {
	for len(ops) > 0 {
		n, size := 0, 0
		for n < len(ops) {
			w := ledger.OpSize(ops[n])
			if n > 0 && size+w > ledger.MaxBatchOps {
				break
			}
			size += w
			n++
		}
		if _, err := s.ledger.ApplyBatch(ctx, tx, ops[:n]); err != nil {
			return fmt.Errorf("cannot write ledger transfers: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

func (s *Settler) readBatch(ctx context.Context, tx pgx.Tx, now, wm time.Time, cur cursor) (*batch, error) {
	b := &batch{now: now, wm: wm}
	var err error
	if b.prog, err = loadProgram(ctx, tx); err != nil {
		return nil, err
	}
	// The queue row holds the order as of its latest revision. Its lock is
	// what a concurrent change of the order waits for: the change updates
	// orders, whose trigger re-queues the order, until this batch commits.
	rows, err := tx.Query(ctx, `SELECT order_id, COALESCE(customer_id, ''), COALESCE(device_token, ''), currency,
placed_at, created_at, revision, cancelled
FROM settle_queue WHERE (placed_at, order_id) > ($1, $2)
ORDER BY placed_at, order_id LIMIT $3 FOR UPDATE SKIP LOCKED`, cur.placedAt, cur.orderID, s.opts.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("cannot read changed orders: %w", err)
	}
	if b.orders, err = pgx.CollectRows(rows, pgx.RowToStructByPos[orderRow]); err != nil {
		return nil, fmt.Errorf("cannot read changed orders: %w", err)
	}
	if len(b.orders) == 0 {
		return b, nil
	}
	ids := make([]string, len(b.orders))
	for i, o := range b.orders {
		ids[i] = o.OrderID
	}
	if b.attrs, err = collectBy(ctx, tx, `SELECT order_id, version, partner_id, override_id, self_referral
FROM attributions WHERE order_id = ANY($1) AND superseded_at IS NULL`, pgx.RowToStructByPos[attrRow], ids); err != nil {
		return nil, err
	}
	if b.overrides, err = collectBy(ctx, tx, `SELECT DISTINCT ON (order_id) order_id, id, partner_id
FROM order_overrides WHERE order_id = ANY($1) ORDER BY order_id, id DESC`, pgx.RowToStructByPos[overrideRow], ids); err != nil {
		return nil, err
	}
	// A line's category is the order event's, or else the catalog's for its
	// product (the subquery runs only for lines without one), so that
	// category rates apply to shops that send no categories with orders.
	if b.lines, err = collectMany(ctx, tx, `SELECT order_id, line_id, product_id,
COALESCE(category_id, (SELECT p.category_id FROM products p WHERE p.product_id = l.product_id), ''),
quantity, unit_price_minor, discount_minor, refunded_quantity, refunded_amount_minor
FROM order_lines l WHERE order_id = ANY($1) ORDER BY order_id, line_id`, pgx.RowToStructByPos[lineRow], ids); err != nil {
		return nil, err
	}
	// Locked: an approval (the admin's, or AutoApprove's) of one of these
	// commissions in flight is waited for, and the batch then sees it
	// approved (a refund becomes a clawback, not a void of an approved
	// commission, which the ledger and the table's checks refuse).
	cs, err := collectMany(ctx, tx, `SELECT order_id, id, line_id, attribution_version, partner_id, currency,
base_minor, amount_minor, voided_amount_minor, clawed_back_amount_minor, state, ledger_ref
FROM commissions WHERE order_id = ANY($1) ORDER BY id FOR UPDATE`, pgx.RowToStructByPos[commissionRow], ids)
	if err != nil {
		return nil, err
	}
	// Locked in id order, as the dashboard's approvals and AutoApprove lock
	// them (the same order everywhere: no deadlock between them); each
	// order's rows are then put in (version, line) order.
	b.commissions = make(map[string][]*commissionRow, len(cs))
	for id, rows := range cs {
		slices.SortFunc(rows, func(x, y commissionRow) int {
			return cmp.Or(cmp.Compare(x.Version, y.Version), strings.Compare(x.LineID, y.LineID))
		})
		for i := range rows {
			b.commissions[id] = append(b.commissions[id], &rows[i])
		}
	}
	if b.partners, err = loadPartners(ctx, tx); err != nil {
		return nil, err
	}
	if b.rates, err = loadRates(ctx, tx, b.prog, b.partners); err != nil {
		return nil, err
	}
	return b, nil
}

// ownersOnce loads, once per pass and only when the pass has orders to
// settle, the partners' own shop accounts: the customers with a partner's
// e-mail or one of its logins' (case-insensitive), whether or not the admin
// set customer_id. One index probe per partner and login (customers'
// lower(email) index), so its cost follows the partners, not the
// customers, and is paid once per pass rather than per batch (per batch,
// looking up the batch's customers cost 7-13 µs per order).
type ownersOnce struct {
	once   sync.Once
	owners map[string][]int64 // customer id -> partner ids
	err    error
}

func (o *ownersOnce) get(ctx context.Context, pool *pgxpool.Pool) (map[string][]int64, error) {
	o.once.Do(func() { o.owners, o.err = loadOwners(ctx, pool) })
	return o.owners, o.err
}

func loadOwners(ctx context.Context, pool *pgxpool.Pool) (map[string][]int64, error) {
	// The e-mails first, then the customers by them: a join lets the
	// planner hash all customers (it cannot tell how few share an e-mail).
	rows, err := pool.Query(ctx, `SELECT lower(email), id FROM partners
UNION SELECT lower(email), partner_id FROM users WHERE partner_id IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("cannot read partners' e-mails: %w", err)
	}
	byEmail := map[string][]int64{}
	var (
		email   string
		partner int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&email, &partner}, func() error {
		byEmail[email] = append(byEmail[email], partner)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot read partners' e-mails: %w", err)
	}
	if len(byEmail) == 0 {
		return nil, nil
	}
	emails := slices.Collect(maps.Keys(byEmail))
	out := map[string][]int64{}
	// The planner has no statistics for the partial index's expression and
	// takes lower(email) = ANY(…) to match every customer (a sequential
	// scan: 120 ms at 500k customers); the index probes take a few ms.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT customer_id, lower(email) FROM customers
WHERE email IS NOT NULL AND lower(email) = ANY($1)`, emails)
		if err != nil {
			return err
		}
		var customer string
		_, err = pgx.ForEachRow(rows, []any{&customer, &email}, func() error {
			out[customer] = append(out[customer], byEmail[email]...)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read partners' own customers: %w", err)
	}
	return out, nil
}

// collectBy runs query (whose first column is the order id) and keys the
// rest of each row by it.
func collectBy[T any](ctx context.Context, tx pgx.Tx, query string, scan pgx.RowToFunc[T], args ...any) (map[string]T, error) {
	m, err := collectMany(ctx, tx, query, scan, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(m))
	for k, v := range m {
		out[k] = v[0]
	}
	return out, nil
}

func collectMany[T any](ctx context.Context, tx pgx.Tx, query string, scan pgx.RowToFunc[T], args ...any) (map[string][]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot query batch: %w", err)
	}
	out := map[string][]T{}
	for rows.Next() {
		var id string
		v, err := scan(prefixRow{rows, &id})
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("cannot read batch: %w", err)
		}
		out[id] = append(out[id], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read batch: %w", err)
	}
	return out, nil
}

// prefixRow scans its first column into id and the rest into the caller's
// destinations.
type prefixRow struct {
	pgx.Rows
	id *string
}

func (r prefixRow) Scan(dest ...any) error { return r.Rows.Scan(append([]any{r.id}, dest...)...) }

// RawValues hides the first column from pgx's struct scanners, which
// compare the column count with the struct's fields.
func (r prefixRow) RawValues() [][]byte { return r.Rows.RawValues()[1:] }

func loadRates(ctx context.Context, tx pgx.Tx, prog Program, partners map[int64]partnerInfo) (*commission.Rates, error) {
	rates := commission.NewRates(prog.DefaultRate)
	for id, p := range partners {
		if p.rate != nil {
			rates.SetPartnerDefault(id, checkedRate(*p.rate))
		}
	}
	rows, err := tx.Query(ctx, `SELECT COALESCE(partner_id, 0), COALESCE(product_id, ''), COALESCE(category_id, ''), rate_upct FROM commission_rates`)
	if err != nil {
		return nil, fmt.Errorf("cannot read commission rates: %w", err)
	}
	var (
		pid               int64
		product, category string
		upct              int64
	)
	_, err = pgx.ForEachRow(rows, []any{&pid, &product, &category, &upct}, func() error {
		if product != "" {
			rates.SetProduct(pid, product, checkedRate(upct))
		} else {
			rates.SetCategory(pid, category, checkedRate(upct))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read commission rates: %w", err)
	}
	return rates, nil
}

// candidate is one rule's answer, stored with the decision.
type candidate struct {
	Rule       string     `json:"rule"`
	PartnerID  *int64     `json:"partner_id"`
	ClickID    string     `json:"click_id,omitempty"`
	At         *time.Time `json:"at,omitempty"`
	BindingID  int64      `json:"binding_id,omitempty"`
	OverrideID int64      `json:"override_id,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

// appendCandidates appends cs as json.Marshal encodes them (checked by
// TestAppendCandidates and FuzzAppendCandidates), without its reflection:
// it was a tenth of the settler's CPU in a settlement batch.
func appendCandidates(dst []byte, cs []candidate) []byte {
	if cs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, c := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"rule":`...)
		dst = appendJSONString(dst, c.Rule)
		dst = append(dst, `,"partner_id":`...)
		if c.PartnerID == nil {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendInt(dst, *c.PartnerID, 10)
		}
		if c.ClickID != "" {
			dst = append(dst, `,"click_id":`...)
			dst = appendJSONString(dst, c.ClickID)
		}
		if c.At != nil {
			dst = append(dst, `,"at":`...)
			if y := c.At.Year(); y < 0 || y > 9999 {
				// json.Marshal refuses such a time; so does the column's
				// consumer. Not reachable from ClickHouse's DateTime64.
				panic(fmt.Sprintf("BUG: candidate time %v outside years 0-9999", *c.At))
			}
			dst = append(dst, '"')
			dst = c.At.AppendFormat(dst, time.RFC3339Nano)
			dst = append(dst, '"')
		}
		if c.BindingID != 0 {
			dst = append(dst, `,"binding_id":`...)
			dst = strconv.AppendInt(dst, c.BindingID, 10)
		}
		if c.OverrideID != 0 {
			dst = append(dst, `,"override_id":`...)
			dst = strconv.AppendInt(dst, c.OverrideID, 10)
		}
		if c.Reason != "" {
			dst = append(dst, `,"reason":`...)
			dst = appendJSONString(dst, c.Reason)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendJSONString appends s quoted as json.Marshal quotes it: plain
// printable ASCII as is, anything else through json.Marshal itself.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic("BUG: a string does not marshal: " + err.Error())
			}
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

type decision struct {
	partnerID  *int64
	rule       string
	clickID    string
	bindingID  *int64
	overrideID *int64
	candidates []candidate
	forced     bool
	selfRef    bool
}

// decideAll decides the orders of b that need a decision and brings every
// order's commissions in line with its refunds and cancellation.
func (s *Settler) decideAll(ctx context.Context, tx pgx.Tx, b *batch) error {
	var need []orderRow
	for _, o := range b.orders {
		a, has := b.attrs[o.OrderID]
		ov, hasOv := b.overrides[o.OrderID]
		switch {
		case has && (!hasOv || (a.OverrideID != nil && *a.OverrideID == ov.ID)):
			// Decided, and no newer override.
		case has || o.PlacedAt.Compare(b.wm) <= 0 || o.CreatedAt.Before(b.now.Add(-s.opts.MaxWait)):
			need = append(need, o)
		}
	}
	decisions, err := s.decide(ctx, tx, b, need)
	if err != nil {
		return err
	}
	settled := make([]string, 0, len(b.orders))
	revs := make([]int64, 0, len(b.orders))
	for _, o := range b.orders {
		_, has := b.attrs[o.OrderID]
		d, decided := decisions[o.OrderID]
		if !has && !decided {
			continue // waits for the watermark
		}
		b.counts.Orders++
		if decided {
			if err := s.record(ctx, tx, b, o, d); err != nil {
				return err
			}
		}
		if err := s.sync(ctx, tx, b, o); err != nil {
			return err
		}
		settled = append(settled, o.OrderID)
		revs = append(revs, o.Revision)
	}
	if err := flush(ctx, tx, b); err != nil {
		return err
	}
	// Settled: out of the queue, at the revision read under the row's lock.
	_, err = tx.Exec(ctx, `DELETE FROM settle_queue q
USING unnest($1::text[], $2::bigint[]) AS s(order_id, rev) WHERE q.order_id = s.order_id AND q.revision = s.rev`, settled, revs)
	if err != nil {
		return fmt.Errorf("cannot mark orders settled: %w", err)
	}
	return nil
}

// reasonSuspended marks the candidate of a suspended partner, which does
// not win (partnerInfo.suspended).
const reasonSuspended = "partner suspended"

// decide applies the rules in order to every order of need.
func (s *Settler) decide(ctx context.Context, tx pgx.Tx, b *batch, need []orderRow) (map[string]decision, error) {
	out := make(map[string]decision, len(need))
	if len(need) == 0 {
		return out, nil
	}
	ids := make([]string, len(need))
	customers := make([]string, len(need))
	ats := make([]time.Time, len(need))
	var qs []attribution.Query
	var qOrder []int
	for i, o := range need {
		ids[i], customers[i], ats[i] = o.OrderID, o.CustomerID, o.PlacedAt
		if o.DeviceToken != "" {
			qs = append(qs, attribution.Query{DeviceToken: o.DeviceToken, At: o.PlacedAt})
			qOrder = append(qOrder, i)
		}
	}
	bindings, err := collectBy(ctx, tx, `SELECT q.order_id, b.id, b.partner_id
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS q(order_id, customer_id, at)
JOIN LATERAL (SELECT id, partner_id FROM customer_bindings b
    WHERE b.customer_id = q.customer_id AND b.bound_at <= q.at AND (b.detached_at IS NULL OR b.detached_at > q.at)
    ORDER BY b.bound_at DESC, b.id DESC LIMIT 1) b ON true`, pgx.RowToStructByPos[bindingRow], ids, customers, ats)
	if err != nil {
		return nil, err
	}
	devices := make([]attribution.Result, len(need))
	if len(qs) > 0 {
		res, err := attribution.Lookup(ctx, s.ch, s.opts.ClickHouseDB, qs, b.prog.AttributionWindow, b.prog.Model)
		if err != nil {
			return nil, err
		}
		for j, i := range qOrder {
			devices[i] = res[j]
		}
	}
	for i, o := range need {
		_, decided := b.attrs[o.OrderID]
		d := decision{rule: RuleNone, forced: !decided && o.PlacedAt.After(b.wm)}
		if ov, ok := b.overrides[o.OrderID]; ok {
			d.candidates = append(d.candidates, candidate{Rule: RuleOverride, PartnerID: ov.PartnerID, OverrideID: ov.ID})
			d.rule, d.partnerID, d.overrideID = RuleOverride, ov.PartnerID, &ov.ID
		} else {
			d.candidates = append(d.candidates, candidate{Rule: RuleOverride, Reason: "no override"})
		}
		if bd, ok := bindings[o.OrderID]; ok {
			c := candidate{Rule: RuleBinding, PartnerID: &bd.PartnerID, BindingID: bd.ID}
			if b.partners[bd.PartnerID].suspended {
				c.Reason = reasonSuspended
			} else if d.rule == RuleNone {
				d.rule, d.partnerID, d.bindingID = RuleBinding, &bd.PartnerID, &bd.ID
			}
			d.candidates = append(d.candidates, c)
		} else {
			d.candidates = append(d.candidates, candidate{Rule: RuleBinding, Reason: "no binding of the customer before the order"})
		}
		if pid, ok := partnerOf(devices[i], b.partners); ok {
			at := devices[i].ClickAt
			c := candidate{Rule: RuleDevice, PartnerID: &pid, ClickID: devices[i].ClickID, At: &at}
			if b.partners[pid].suspended {
				c.Reason = reasonSuspended
			} else if d.rule == RuleNone && clickUUID(devices[i].ClickID) != nil {
				d.rule, d.partnerID, d.clickID = RuleDevice, &pid, devices[i].ClickID
			}
			d.candidates = append(d.candidates, c)
		} else {
			d.candidates = append(d.candidates, candidate{Rule: RuleDevice, Reason: "no click of a known partner on the device within the window"})
		}
		if d.partnerID != nil {
			d.selfRef = commission.SelfReferral(b.partners[*d.partnerID].customerID, o.CustomerID) ||
				slices.Contains(b.owners[o.CustomerID], *d.partnerID)
		}
		out[o.OrderID] = d
	}
	return out, nil
}

// record stores a decision: it supersedes the current one (reversing its
// commissions), inserts the new version and accrues its commissions.
func (s *Settler) record(ctx context.Context, tx pgx.Tx, b *batch, o orderRow, d decision) error {
	version := 1
	if prev, ok := b.attrs[o.OrderID]; ok {
		version = prev.Version + 1
		b.counts.Reattributed++
		if _, err := tx.Exec(ctx, `UPDATE attributions SET superseded_at = $3 WHERE order_id = $1 AND version = $2`,
			o.OrderID, prev.Version, b.now); err != nil {
			return fmt.Errorf("cannot supersede attribution: %w", err)
		}
		for _, c := range b.commissions[o.OrderID] {
			if c.Version == prev.Version {
				if err := s.reverse(ctx, tx, b, o, c, c.Amount); err != nil {
					return err
				}
			}
		}
	}
	b.counts.Attributed++
	if d.forced {
		b.counts.Forced++
	}
	start := len(b.candidates)
	b.candidates = appendCandidates(b.candidates, d.candidates)
	cands := b.candidates[start:len(b.candidates):len(b.candidates)]
	var click any
	if d.clickID != "" {
		click = clickUUID(d.clickID)
	}
	b.newAttrs = append(b.newAttrs, []any{o.OrderID, int32(version), d.partnerID, d.rule, click, d.bindingID, d.overrideID,
		cands, d.forced, d.selfRef, b.now})
	b.attrs[o.OrderID] = attrRow{Version: version, PartnerID: d.partnerID, OverrideID: d.overrideID, SelfReferral: d.selfRef}
	if d.partnerID == nil {
		return nil
	}
	if d.selfRef {
		b.counts.SelfReferrals++
		_, err := tx.Exec(ctx, `INSERT INTO self_referrals (order_id, partner_id, customer_id, detected_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`, o.OrderID, *d.partnerID, o.CustomerID, b.now)
		if err != nil {
			return fmt.Errorf("cannot record self-referral: %w", err)
		}
		return nil
	}
	return s.accrue(ctx, tx, b, o, version, *d.partnerID)
}

// accrue creates the commission of every line of o for partnerID.
func (s *Settler) accrue(ctx context.Context, tx pgx.Tx, b *batch, o orderRow, version int, partnerID int64) error {
	ls := b.lines[o.OrderID]
	in := make([]commission.Line, len(ls))
	for i, l := range ls {
		in[i] = commission.Line{LineID: l.LineID, ProductID: l.ProductID, CategoryID: l.CategoryID,
			Quantity: l.Quantity, UnitPriceMinor: l.UnitPrice, DiscountMinor: l.Discount}
	}
	lcs, err := commission.Compute(partnerID, in, b.rates)
	if err != nil {
		// The ingest checked every line; a stored line that fails is a bug.
		panic(fmt.Sprintf("BUG: stored order %q does not compute: %v", o.OrderID, err))
	}
	// One ledger transfer for the order's commissions (each keeps its own pending
	// state under its ref): two postings per order instead of two per line.
	group := ledger.AccrueGroupParams{PartnerID: strconv.FormatInt(partnerID, 10), Currency: o.Currency,
		GroupID: groupRef(o.OrderID, version)}
	group.Key = "accrue-order:" + group.GroupID
	for _, lc := range lcs {
		c := &commissionRow{LineID: lc.LineID, Version: version, PartnerID: partnerID, Currency: o.Currency,
			Base: lc.BaseMinor, Amount: lc.AmountMinor, State: "pending",
			orderID: o.OrderID, rateUpct: int64(lc.Rate), rateRule: string(lc.Rule)}
		if lc.AmountMinor > 0 {
			ref := ledgerRef(o.OrderID, lc.LineID, version)
			c.LedgerRef = &ref
			c.accrualKey = group.Key
			group.Commissions = append(group.Commissions, ledger.GroupAccrual{CommissionID: ref, AmountMinor: lc.AmountMinor})
			b.addFact(o.OrderID, c, "accrue:"+ref)
		}
		b.counts.Commissions++
		b.commissions[o.OrderID] = append(b.commissions[o.OrderID], c)
		b.newCommissions = append(b.newCommissions, c)
	}
	if len(group.Commissions) > 0 {
		b.ops = append(b.ops, group)
	}
	return nil
}

// sync takes back what refunds and a cancellation took from the order's
// current commissions: a void before approval, a clawback after.
func (s *Settler) sync(ctx context.Context, tx pgx.Tx, b *batch, o orderRow) error {
	a := b.attrs[o.OrderID]
	lines := map[string]lineRow{}
	for _, l := range b.lines[o.OrderID] {
		lines[l.LineID] = l
	}
	for _, c := range b.commissions[o.OrderID] {
		if c.Version != a.Version || c.Amount == 0 {
			continue
		}
		target := c.Amount
		if !o.Cancelled {
			l := lines[c.LineID]
			target = commission.Reversed(commission.LineCommission{Quantity: l.Quantity, BaseMinor: c.Base, AmountMinor: c.Amount},
				commission.Refunded{Quantity: l.RefundedQuantity, AmountMinor: l.RefundedAmount})
		}
		if err := s.reverse(ctx, tx, b, o, c, target); err != nil {
			return err
		}
	}
	return nil
}

// reverse brings the cumulative reversal of c (voided + clawed back) up to
// target: a void while pending, a clawback once approved. Keys carry the
// cumulative target, so a repeat is a no-op and a further refund is new.
func (s *Settler) reverse(ctx context.Context, tx pgx.Tx, b *batch, o orderRow, c *commissionRow, target int64) error {
	delta := target - c.Voided - c.Clawed
	if delta <= 0 || c.LedgerRef == nil {
		return nil
	}
	ref := *c.LedgerRef
	var key string
	switch c.State {
	case "pending", "partially_voided":
		c.Voided += delta
		c.State = "partially_voided"
		if c.Voided == c.Amount {
			c.State = "voided"
		}
		key = "void:" + ref + ":" + strconv.FormatInt(c.Voided, 10)
		b.ops = append(b.ops, ledger.PartialVoidParams{Key: key, CommissionID: ref, AmountMinor: delta})
		b.counts.Voids++
	case "approved", "partially_clawed_back":
		c.Clawed += delta
		c.State = "partially_clawed_back"
		if c.Voided+c.Clawed == c.Amount {
			c.State = "clawed_back"
		}
		key = "clawback:" + ref + ":" + strconv.FormatInt(c.Clawed, 10)
		b.ops = append(b.ops, ledger.ClawbackParams{Key: key, CommissionID: ref, AmountMinor: delta})
		b.counts.Clawbacks++
	default:
		panic(fmt.Sprintf("BUG: commission %d in state %s has %d left to reverse", c.ID, c.State, delta))
	}
	b.addFact(o.OrderID, c, key)
	if c.ID == 0 {
		return nil // created in this batch: inserted with its final state
	}
	if _, err := tx.Exec(ctx, `UPDATE commissions SET state = $2, voided_amount_minor = $3, clawed_back_amount_minor = $4, updated_at = $5
WHERE id = $1`, c.ID, c.State, c.Voided, c.Clawed, b.now); err != nil {
		return fmt.Errorf("cannot update commission: %w", err)
	}
	return nil
}

// groupRef names an order's group accrual in the ledger (the transfer's
// reference; its key is "accrue-order:" + groupRef); "g" marks a hashed one.
func groupRef(orderID string, version int) string {
	return derivedRef("g", version, orderID)
}

// ledgerRef is the commission's id in the ledger, derived from what
// identifies it; "h" marks a hashed one.
func ledgerRef(orderID, lineID string, version int) string {
	return derivedRef("h", version, orderID, lineID)
}

// derivedRef joins ids and version with "/"; long ids are hashed (mark and
// 40 hex digits) to keep it within 150 bytes, and so are ids holding a "/",
// which would make two refs ambiguous.
func derivedRef(mark string, version int, ids ...string) string {
	ref := strings.Join(ids, "/") + "/" + strconv.Itoa(version)
	plain := len(ref) <= 100
	for _, id := range ids {
		plain = plain && !strings.Contains(id, "/")
	}
	if plain {
		return ref
	}
	sum := sha256.Sum256([]byte(ref))
	return mark + hex.EncodeToString(sum[:20])
}

// The COPY targets of flush; its rows fill these columns in this order.
var (
	attributionTable = pgcopy.NewTable("attributions", pgcopy.Col("order_id", pgcopy.Text),
		pgcopy.Col("version", pgcopy.Int4), pgcopy.Col("partner_id", pgcopy.Int8), pgcopy.Col("rule", pgcopy.Text),
		pgcopy.Col("click_id", pgcopy.UUID), pgcopy.Col("binding_id", pgcopy.Int8), pgcopy.Col("override_id", pgcopy.Int8),
		pgcopy.Col("candidates", pgcopy.JSONB), pgcopy.Col("watermark_forced", pgcopy.Bool),
		pgcopy.Col("self_referral", pgcopy.Bool), pgcopy.Col("decided_at", pgcopy.Timestamptz))
	commissionTable = pgcopy.NewTable("commissions", pgcopy.Col("order_id", pgcopy.Text),
		pgcopy.Col("line_id", pgcopy.Text), pgcopy.Col("attribution_version", pgcopy.Int4),
		pgcopy.Col("partner_id", pgcopy.Int8), pgcopy.Col("currency", pgcopy.Text), pgcopy.Col("base_minor", pgcopy.Int8),
		pgcopy.Col("rate_upct", pgcopy.Int8), pgcopy.Col("rate_rule", pgcopy.Text), pgcopy.Col("amount_minor", pgcopy.Int8),
		pgcopy.Col("state", pgcopy.Text), pgcopy.Col("voided_amount_minor", pgcopy.Int8),
		pgcopy.Col("clawed_back_amount_minor", pgcopy.Int8), pgcopy.Col("accrual_transfer_key", pgcopy.Text),
		pgcopy.Col("ledger_ref", pgcopy.Text), pgcopy.Col("approved_at", pgcopy.Timestamptz),
		pgcopy.Col("created_at", pgcopy.Timestamptz), pgcopy.Col("updated_at", pgcopy.Timestamptz))
)

// flush writes the batch's new attributions, commissions and facts in bulk.
func flush(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.newAttrs) > 0 {
		if _, err := attributionTable.Copy(ctx, tx, b.newAttrs); err != nil {
			return fmt.Errorf("cannot insert attributions: %w", err)
		}
	}
	if len(b.newCommissions) > 0 {
		rows := make([][]any, len(b.newCommissions))
		for i, c := range b.newCommissions {
			var accrualKey *string
			if c.accrualKey != "" {
				accrualKey = &c.accrualKey
			}
			var approvedAt *time.Time
			rows[i] = []any{c.orderID, c.LineID, int32(c.Version), c.PartnerID, c.Currency, c.Base, c.rateUpct, c.rateRule,
				c.Amount, c.State, c.Voided, c.Clawed, accrualKey, c.LedgerRef, approvedAt, b.now, b.now}
		}
		if _, err := commissionTable.Copy(ctx, tx, rows); err != nil {
			return fmt.Errorf("cannot insert commissions: %w", err)
		}
	}
	return flushFacts(ctx, tx, b)
}
