package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openaff/affiliate/pkg/pgcopy"
)

func (e *engine) acct(owner, kind, currency string) *account {
	a := e.accounts[acctKey{owner, kind, currency}]
	if a == nil {
		panic(fmt.Sprintf("BUG: account %s %s %s not locked", owner, kind, currency))
	}
	return a
}

// compute turns request i into a transfer against the locked state.
func (e *engine) compute(i int) error {
	r := &e.reqs[i]
	row := transferRow{id: e.ids[0], req: r, partnerID: r.partnerID, currency: r.currency}
	e.ids = e.ids[1:]
	avail := e.acct(PartnerOwner(r.partnerID), KindAvailable, r.currency)
	var legs []leg
	var err error
	switch r.op {
	case opAccrue, opAccrueGroup, opPayoutRequest, opStoreCreditRequest:
		legs, err = e.open(&row, avail)
	case opVoid, opPartialVoid, opPayoutFailed, opStoreCreditRejected:
		legs, err = e.void(&row)
	case opApprove:
		legs, err = e.approve(&row, avail)
	case opPayoutPaid, opStoreCreditApproved:
		legs, err = e.postPending(&row, avail)
	case opReleaseReserve:
		legs, err = e.release(&row, avail)
	case opClawback:
		legs, err = e.clawback(&row, avail)
	case opPenalty:
		income := e.acct(ProgramOwner, KindPenaltyIncome, r.currency)
		legs = []leg{{avail, phasePosted, -r.amount}, {income, phasePosted, r.amount}}
	case opAdjustment:
		adj := e.acct(ProgramOwner, KindAdjustments, r.currency)
		legs = []leg{{adj, phasePosted, -r.amount}, {avail, phasePosted, r.amount}}
	default:
		panic(fmt.Sprintf("BUG: unknown operation %q", r.op))
	}
	if err != nil {
		return err
	}
	if err := e.apply(row, legs); err != nil {
		return err
	}
	e.results[i] = Transfer{ID: row.id, Key: r.key}
	return nil
}

// open creates a pending transfer: an accrued commission or group of commissions (expense
// → partner's available, as credits_pending) or a payout / store-credit request (partner's
// available → clearing or liability, as debits_pending, only if available covers it).
func (e *engine) open(row *transferRow, avail *account) ([]leg, error) {
	r := row.req
	var dup error
	r.openedRefs(func(ref string, _ int64) {
		if dup == nil && e.pendings[pendKey{pendingKindOf(r.op), ref}] != nil {
			dup = fmt.Errorf("%s %q: %w", refName(r.op), ref, ErrDuplicateReference)
		}
	})
	if dup != nil {
		return nil, dup
	}
	var debit, credit *account
	switch r.op {
	case opAccrue, opAccrueGroup:
		debit, credit = e.acct(ProgramOwner, KindCommissionExpense, r.currency), avail
	case opPayoutRequest:
		debit, credit = avail, e.acct(ProgramOwner, KindPayoutClearing, r.currency)
	default:
		debit, credit = avail, e.acct(ProgramOwner, KindStoreCreditLiability, r.currency)
	}
	if debit == avail {
		if have := availableOf(avail); have < r.amount {
			return nil, fmt.Errorf("%w: available %d, asked %d", ErrInsufficientFunds, have, r.amount)
		}
	}
	// One pending state per reference (per commission of a group), all on this transfer.
	r.openedRefs(func(ref string, amount int64) {
		k := pendKey{pendingKindOf(r.op), ref}
		e.pendings[k] = &pending{
			transferID: row.id, key: k, partnerID: r.partnerID, currency: r.currency,
			debitID: debit.id, creditID: credit.id, amount: amount, isNew: true,
		}
	})
	return []leg{{debit, phasePending, -r.amount}, {credit, phasePending, r.amount}}, nil
}

// availableOf is what a partner may still withdraw: posted balance minus what requested
// payouts and store credit hold.
func availableOf(a *account) int64 { return a.cpo - a.dpo - a.dp }

// resolvable returns the open pending transfer a resolution refers to.
func (e *engine) resolvable(row *transferRow) (*pending, error) {
	r := row.req
	p := e.pendings[pendKey{pendingKindOf(r.op), r.ref}]
	if p == nil {
		return nil, fmt.Errorf("%s %q: %w", refName(r.op), r.ref, ErrNotFound)
	}
	if p.remaining() == 0 {
		return nil, fmt.Errorf("%s %q: %w", refName(r.op), r.ref, ErrPendingResolved)
	}
	row.pendingID = p.transferID
	return p, nil
}

// releaseLegs releases amount of pending p on both of its accounts.
func (e *engine) releaseLegs(p *pending, amount int64) []leg {
	debit, credit := e.byID[p.debitID], e.byID[p.creditID]
	if debit == nil || credit == nil {
		panic(fmt.Sprintf("BUG: accounts of pending transfer %d not locked", p.transferID))
	}
	return []leg{{debit, phaseRelease, -amount}, {credit, phaseRelease, amount}}
}

// void voids what remains of a pending transfer, or part of it (PartialVoid). A partial
// void of everything that remains is final, like a void.
func (e *engine) void(row *transferRow) ([]leg, error) {
	p, err := e.resolvable(row)
	if err != nil {
		return nil, err
	}
	amount := p.remaining()
	if row.req.op == opPartialVoid {
		if row.req.amount > amount {
			return nil, fmt.Errorf("%w: void %d, pending %d", ErrExceedsRemaining, row.req.amount, amount)
		}
		amount = row.req.amount
	}
	p.voided += amount
	p.dirty = true
	row.final = p.remaining() == 0
	return e.releaseLegs(p, amount), nil
}

// postPending posts a whole payout or store-credit request.
func (e *engine) postPending(row *transferRow, avail *account) ([]leg, error) {
	p, err := e.resolvable(row)
	if err != nil {
		return nil, err
	}
	amount := p.remaining()
	p.posted += amount
	p.dirty = true
	row.final = true
	var to *account
	if row.req.op == opStoreCreditApproved {
		to = e.acct(ProgramOwner, KindStoreCreditLiability, p.currency)
	} else {
		to = e.acct(PartnerOwner(p.partnerID), KindPaidOut, p.currency)
	}
	// For a payout the clearing account's pending credit is released and the money goes
	// straight to paid_out: clearing nets to zero once paid.
	legs := e.releaseLegs(p, amount)
	return append(legs, leg{avail, phasePosted, -amount}, leg{to, phasePosted, amount}), nil
}

// approve posts a pending commission (all that remains, or the requested part, voiding
// the rest) and splits the posted amount between available and the reserve:
// reserve = amount × bp / 10000, rounded down; available gets the rest.
func (e *engine) approve(row *transferRow, avail *account) ([]leg, error) {
	r := row.req
	p, err := e.resolvable(row)
	if err != nil {
		return nil, err
	}
	if e.reserves[r.ref] != nil {
		panic(fmt.Sprintf("BUG: commission %q has a reserve but its pending transfer is open", r.ref))
	}
	remaining := p.remaining()
	amount := remaining
	if r.amount > 0 {
		if r.amount > remaining {
			return nil, fmt.Errorf("%w: approve %d, pending %d", ErrExceedsRemaining, r.amount, remaining)
		}
		amount = r.amount
	}
	held := amount * r.bp / 10000 // no overflow: amount ≤ MaxAmountMinor = 2^49, bp ≤ 10^4
	p.posted += amount
	p.voided += remaining - amount
	p.dirty = true
	row.final = true
	row.releaseAt = r.releaseAt
	e.reserves[r.ref] = &reserve{
		commissionID: r.ref, approveID: row.id, partnerID: p.partnerID, currency: p.currency,
		approved: amount, amount: held, held: held, releaseAt: r.releaseAt, isNew: true,
	}
	expense := e.acct(ProgramOwner, KindCommissionExpense, p.currency)
	legs := append(e.releaseLegs(p, remaining), leg{expense, phasePosted, -amount})
	if amount-held > 0 {
		legs = append(legs, leg{avail, phasePosted, amount - held})
	}
	if held > 0 {
		legs = append(legs, leg{e.acct(PartnerOwner(p.partnerID), KindReserved, p.currency), phasePosted, held})
	}
	return legs, nil
}

// release moves what a commission's reserve holds to available.
func (e *engine) release(row *transferRow, avail *account) ([]leg, error) {
	r := row.req
	rs := e.reserves[r.ref]
	if rs == nil {
		return nil, fmt.Errorf("reserve of commission %q: %w", r.ref, ErrNotFound)
	}
	if rs.held == 0 {
		return nil, fmt.Errorf("commission %q: %w", r.ref, ErrNothingToRelease)
	}
	amount := rs.held
	rs.held = 0
	rs.releaseID = row.id
	rs.dirty = true
	reserved := e.acct(PartnerOwner(rs.partnerID), KindReserved, rs.currency)
	return []leg{{reserved, phasePosted, -amount}, {avail, phasePosted, amount}}, nil
}

// clawback takes amount back from an approved commission: first from what its reserve
// still holds, the rest from available (which may go negative), back to the expense account.
func (e *engine) clawback(row *transferRow, avail *account) ([]leg, error) {
	r := row.req
	rs := e.reserves[r.ref]
	if rs == nil {
		return nil, fmt.Errorf("approved commission %q: %w", r.ref, ErrNotFound)
	}
	if left := rs.approved - rs.clawed; r.amount > left {
		return nil, fmt.Errorf("%w: claw back %d, approved %d of which %d already clawed back", ErrExceedsRemaining, r.amount, rs.approved, rs.clawed)
	}
	fromReserve := min(rs.held, r.amount)
	rs.held -= fromReserve
	rs.clawed += r.amount
	rs.dirty = true
	legs := []leg{{e.acct(ProgramOwner, KindCommissionExpense, rs.currency), phasePosted, r.amount}}
	if fromReserve > 0 {
		legs = append(legs, leg{e.acct(PartnerOwner(rs.partnerID), KindReserved, rs.currency), phasePosted, -fromReserve})
	}
	if rest := r.amount - fromReserve; rest > 0 {
		legs = append(legs, leg{avail, phasePosted, -rest})
	}
	return legs, nil
}

// The tables a batch writes by COPY (pgcopy: a quarter of the settler's CPU
// went to pgx encoding these rows value by value). The row slices below
// fill these columns in this order.
var (
	transferTable = pgcopy.NewTable("ledger_transfers", pgcopy.Col("id", pgcopy.Int8),
		pgcopy.Col("idempotency_key", pgcopy.Text), pgcopy.Col("request_hash", pgcopy.Bytea),
		pgcopy.Col("operation", pgcopy.Text), pgcopy.Col("partner_id", pgcopy.Text),
		pgcopy.Col("currency", pgcopy.Text), pgcopy.Col("reference", pgcopy.Text),
		pgcopy.Col("amount_minor", pgcopy.Int8), pgcopy.Col("note", pgcopy.Text),
		pgcopy.Col("pending_id", pgcopy.Int8), pgcopy.Col("final", pgcopy.Bool),
		pgcopy.Col("release_at", pgcopy.Timestamptz))
	postingTable = pgcopy.NewTable("ledger_postings", pgcopy.Col("transfer_id", pgcopy.Int8),
		pgcopy.Col("account_id", pgcopy.Int8), pgcopy.Col("phase", pgcopy.Int2),
		pgcopy.Col("amount_minor", pgcopy.Int8), pgcopy.Col("posted_after", pgcopy.Int8))
	pendingTable = pgcopy.NewTable("ledger_pending", pgcopy.Col("transfer_id", pgcopy.Int8),
		pgcopy.Col("kind", pgcopy.Text), pgcopy.Col("reference", pgcopy.Text),
		pgcopy.Col("partner_id", pgcopy.Text), pgcopy.Col("currency", pgcopy.Text),
		pgcopy.Col("debit_account_id", pgcopy.Int8), pgcopy.Col("credit_account_id", pgcopy.Int8),
		pgcopy.Col("amount_minor", pgcopy.Int8), pgcopy.Col("posted_minor", pgcopy.Int8),
		pgcopy.Col("voided_minor", pgcopy.Int8), pgcopy.Col("closed", pgcopy.Bool))

	transferColumns = transferTable.Columns()
	postingColumns  = postingTable.Columns()
	pendingColumns  = pendingTable.Columns()
)

// copyThreshold is the number of transfers from which write uses COPY; below it the rows
// go in the same pipelined round trip as the balance updates (fewer round trips).
const copyThreshold = 32

// write stores the batch: transfers and postings (by COPY when there are many), then
// balances, pending and reserve state by set-based statements in one pipelined round trip.
func (e *engine) write(ctx context.Context, t0 *time.Time) error {
	rows := make([][]any, len(e.rows))
	for i, t := range e.rows {
		var pendingID, releaseAt any
		if t.pendingID != 0 {
			pendingID = t.pendingID
		}
		if !t.releaseAt.IsZero() {
			releaseAt = t.releaseAt
		}
		rows[i] = []any{t.id, t.req.key, t.req.hash, string(t.req.op), t.partnerID, t.currency,
			t.req.ref, t.req.amount, t.req.note, pendingID, t.final, releaseAt}
	}
	b := &pgx.Batch{}
	if len(rows) >= copyThreshold {
		if _, err := transferTable.Copy(ctx, e.tx, rows); err != nil {
			return fmt.Errorf("cannot write transfers: %w", err)
		}
		if _, err := postingTable.Copy(ctx, e.tx, e.postings); err != nil {
			return fmt.Errorf("cannot write postings: %w", err)
		}
	} else {
		queueInsert(b, "ledger_transfers", transferColumns, rows)
		queueInsert(b, "ledger_postings", postingColumns, e.postings)
	}
	stage("write_copy", t0)
	e.queueAccounts(b)
	if err := e.writePendings(ctx, b); err != nil {
		return err
	}
	e.queueReserves(b)
	if err := sendBatch(ctx, e.tx, b); err != nil {
		return fmt.Errorf("cannot write transfers and balances: %w", err)
	}
	stage("write_state", t0)
	return nil
}

// queueInsert queues one multi-row INSERT of rows (a few: used below copyThreshold).
func queueInsert(b *pgx.Batch, table string, columns []string, rows [][]any) {
	var sql strings.Builder
	fmt.Fprintf(&sql, "INSERT INTO %s (%s) VALUES ", table, strings.Join(columns, ", "))
	args := make([]any, 0, len(rows)*len(columns))
	for i, row := range rows {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				sql.WriteString(", ")
			}
			args = append(args, v)
			fmt.Fprintf(&sql, "$%d", len(args))
		}
		sql.WriteByte(')')
	}
	b.Queue(sql.String(), args...)
}

func (e *engine) queueAccounts(b *pgx.Batch) {
	var ids, dp, cp, dpo, cpo []int64
	for _, a := range e.accounts {
		if a.dirty {
			ids, dp, cp, dpo, cpo = append(ids, a.id), append(dp, a.dp), append(cp, a.cp), append(dpo, a.dpo), append(cpo, a.cpo)
		}
	}
	b.Queue(`
		UPDATE ledger_accounts a
		SET debits_pending = u.dp, credits_pending = u.cp, debits_posted = u.dpo, credits_posted = u.cpo
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(id, dp, cp, dpo, cpo)
		WHERE a.id = u.id`, ids, dp, cp, dpo, cpo)
}

// writePendings copies new pending rows when there are many (one COPY round trip) and
// queues the rest on b.
func (e *engine) writePendings(ctx context.Context, b *pgx.Batch) error {
	var fresh [][]any
	for _, p := range e.pendings {
		if p.isNew {
			fresh = append(fresh, []any{p.transferID, p.key.kind, p.key.ref, p.partnerID, p.currency, p.debitID,
				p.creditID, p.amount, p.posted, p.voided, p.remaining() == 0})
		}
	}
	if len(fresh) >= copyThreshold {
		if _, err := pendingTable.Copy(ctx, e.tx, fresh); err != nil {
			return fmt.Errorf("cannot write pending transfers: %w", err)
		}
	} else if len(fresh) > 0 {
		queueInsert(b, "ledger_pending", pendingColumns, fresh)
	}
	e.queuePendingUpdates(b)
	return nil
}

func (e *engine) queuePendingUpdates(b *pgx.Batch) {
	var kinds, refs []string
	var posted, voided []int64
	var closed []bool
	for _, p := range e.pendings {
		if p.isNew || !p.dirty {
			continue
		}
		kinds, refs = append(kinds, p.key.kind), append(refs, p.key.ref)
		posted, voided = append(posted, p.posted), append(voided, p.voided)
		closed = append(closed, p.remaining() == 0)
	}
	if len(kinds) > 0 {
		b.Queue(`
			UPDATE ledger_pending p SET posted_minor = u.posted, voided_minor = u.voided, closed = u.closed
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[]) AS u(kind, ref, posted, voided, closed)
			WHERE p.kind = u.kind AND p.reference = u.ref`, kinds, refs, posted, voided, closed)
	}
}

func (e *engine) queueReserves(b *pgx.Batch) {
	var newRows, upd struct {
		ids, partners, curs                []string
		approveIDs, approved, amount, held []int64
		clawed, releaseIDs                 []int64
		releaseAt                          []time.Time
	}
	for _, r := range e.reserves {
		t := &upd
		if r.isNew {
			t = &newRows
		} else if !r.dirty {
			continue
		}
		t.ids, t.partners, t.curs = append(t.ids, r.commissionID), append(t.partners, r.partnerID), append(t.curs, r.currency)
		t.approveIDs, t.approved, t.amount = append(t.approveIDs, r.approveID), append(t.approved, r.approved), append(t.amount, r.amount)
		t.held, t.clawed, t.releaseIDs = append(t.held, r.held), append(t.clawed, r.clawed), append(t.releaseIDs, r.releaseID)
		t.releaseAt = append(t.releaseAt, r.releaseAt)
	}
	if len(newRows.ids) > 0 {
		b.Queue(`
			INSERT INTO ledger_reserves (commission_id, approve_transfer_id, partner_id, currency, approved_minor,
				reserve_minor, held_minor, clawed_minor, release_at, release_transfer_id)
			SELECT c, a, p, cur, ap, r, h, cl, at, nullif(rel, 0)
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],
				$7::bigint[], $8::bigint[], $9::timestamptz[], $10::bigint[]) AS u(c, a, p, cur, ap, r, h, cl, at, rel)`,
			newRows.ids, newRows.approveIDs, newRows.partners, newRows.curs, newRows.approved, newRows.amount,
			newRows.held, newRows.clawed, newRows.releaseAt, newRows.releaseIDs)
	}
	if len(upd.ids) > 0 {
		b.Queue(`
			UPDATE ledger_reserves r SET held_minor = u.held, clawed_minor = u.clawed,
				release_transfer_id = nullif(u.rel, 0)
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(c, held, clawed, rel)
			WHERE r.commission_id = u.c`, upd.ids, upd.held, upd.clawed, upd.releaseIDs)
	}
}

// duplicatePending turns the refusal of ledger_pending's primary key, raised by write when
// an operation opens a pending transfer for a reference that already has one (committed
// before this batch: see queuePendingLocks), into ErrDuplicateReference on that operation;
// other errors pass unchanged. The transaction is aborted by then, as after any error of
// ApplyBatch.
func (e *engine) duplicatePending(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "ledger_pending_pkey" {
		return err
	}
	first := -1
	for i := range e.reqs {
		r := &e.reqs[i]
		if e.done[i] || !opens(r.op) {
			continue
		}
		if first < 0 {
			first = i
		}
		// The server names the key in its detail, unquoted; English messages assumed, else
		// the first opening operation is named with the server's detail.
		var found error
		r.openedRefs(func(ref string, _ int64) {
			if found == nil && pgErr.Detail == "Key (kind, reference)=("+pendingKindOf(r.op)+", "+ref+") already exists." {
				found = fmt.Errorf("%s %q: %w", refName(r.op), ref, ErrDuplicateReference)
			}
		})
		if found != nil {
			return e.fail(i, found)
		}
	}
	if first < 0 {
		return err
	}
	return e.fail(first, fmt.Errorf("%s: %w", pgErr.Detail, ErrDuplicateReference))
}
