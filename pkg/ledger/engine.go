package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Account kinds of a partner (owner "partner:<id>"). All are credit-normal: their balance is
// credits - debits.
const (
	// KindAvailable holds approved money the partner may withdraw; pending commissions sit on
	// it as credits_pending, requested payouts and store credit as debits_pending.
	KindAvailable = "available"
	// KindReserved holds the reserve share of approved commissions until release.
	KindReserved = "reserved"
	// KindPaidOut counts the money paid out to the partner.
	KindPaidOut = "paid_out"
)

// Account kinds of the program (owner "program"), one of each per currency.
const (
	// KindCommissionExpense is debited by every commission and credited back by voids and clawbacks.
	KindCommissionExpense = "commission_expense"
	// KindPenaltyIncome is credited by penalties.
	KindPenaltyIncome = "penalty_income"
	// KindStoreCreditLiability is credited by store credit owed to customers.
	KindStoreCreditLiability = "store_credit_liability"
	// KindPayoutClearing holds requested payouts (as credits_pending) until paid or failed.
	KindPayoutClearing = "payout_clearing"
	// KindAdjustments is the counterpart of every manual adjustment.
	KindAdjustments = "adjustments"
)

// ProgramOwner is the owner of the program's accounts.
const ProgramOwner = "program"

// PartnerOwner returns the owner string of a partner's accounts.
func PartnerOwner(partnerID string) string { return "partner:" + partnerID }

// Posting phases, stored in ledger_postings.phase.
const (
	phasePosted  int16 = 0
	phasePending int16 = 1
	phaseRelease int16 = 2
)

// Pending kinds, stored in ledger_pending.kind.
const (
	pendingCommission  = "commission"
	pendingPayout      = "payout"
	pendingStoreCredit = "store_credit"
)

type acctKey struct{ owner, kind, currency string }

type account struct {
	id               int64
	key              acctKey
	dp, cp, dpo, cpo int64 // debits/credits pending, debits/credits posted
	dirty            bool
}

type pendKey struct{ kind, ref string }

type pending struct {
	transferID          int64
	key                 pendKey
	partnerID, currency string
	debitID, creditID   int64
	amount              int64
	posted, voided      int64
	isNew, dirty        bool
}

func (p *pending) remaining() int64 { return p.amount - p.posted - p.voided }

type reserve struct {
	commissionID        string
	approveID           int64
	partnerID, currency string
	approved, amount    int64
	held, clawed        int64
	releaseAt           time.Time
	releaseID           int64 // 0 while unreleased
	isNew, dirty        bool
}

// leg is one posting before it is applied.
type leg struct {
	acct   *account
	phase  int16
	amount int64
}

// transferRow is a ledger_transfers row being written.
type transferRow struct {
	id                  int64
	req                 *request
	partnerID, currency string
	pendingID           int64 // 0 = NULL
	final               bool
	releaseAt           time.Time
}

// engine applies one batch of requests inside one transaction: it locks what the batch
// touches (pending rows, then reserves, then accounts, each in a fixed order), detects
// replays, computes every transfer in Go against the locked state, then writes everything
// with COPY and set-based statements.
type engine struct {
	tx       pgx.Tx
	reqs     []request
	results  []Transfer
	done     []bool  // result known (replay or duplicate within the batch)
	dupOf    []int   // index of the first operation with the same key, or -1
	missing  []error // the operation refers to an unknown commission, payout or request
	known    *knownAccounts
	accounts map[acctKey]*account
	byID     map[int64]*account
	pendings map[pendKey]*pending
	reserves map[string]*reserve
	ids      []int64
	rows     []transferRow
	postings [][]any
}

func newEngine(tx pgx.Tx, reqs []request, known *knownAccounts) *engine {
	return &engine{
		tx:       tx,
		known:    known,
		reqs:     reqs,
		results:  make([]Transfer, len(reqs)),
		done:     make([]bool, len(reqs)),
		dupOf:    make([]int, len(reqs)),
		missing:  make([]error, len(reqs)),
		accounts: make(map[acctKey]*account),
		byID:     make(map[int64]*account),
		pendings: make(map[pendKey]*pending),
		reserves: make(map[string]*reserve),
	}
}

func (e *engine) fail(i int, err error) error {
	return &BatchError{Index: i, Key: e.reqs[i].key, Err: err}
}

// stageHook, when set (by benchmarks only, before any use), receives the duration of each
// stage of every batch.
var stageHook func(stage string, d time.Duration)

// stage reports the time since *t0 to stageHook and restarts the clock.
func stage(name string, t0 *time.Time) {
	if stageHook != nil {
		now := time.Now()
		stageHook(name, now.Sub(*t0))
		*t0 = now
	}
}

func (e *engine) run(ctx context.Context) error {
	var t0 time.Time
	if stageHook != nil {
		t0 = time.Now()
	}
	if err := e.dedupe(); err != nil {
		return err
	}
	// Lock pending rows, then reserves, then accounts: in one round trip when every
	// operation names its partner, else two.
	b := &pgx.Batch{}
	e.queuePendingLocks(b)
	e.queueReserveLocks(b)
	if !e.partnersKnown() {
		// The partners (hence the accounts) of some operations come from these rows.
		if err := e.send(ctx, b, "cannot lock pending transfers and reserves"); err != nil {
			return err
		}
		b = &pgx.Batch{}
	}
	stage("lock_pending", &t0)
	// Lock the accounts (ascending id), look the keys up and allocate transfer ids (those
	// of replays are simply not used). Replays are detected after the locks: every
	// operation locks its partner's available account, so a concurrent run of the same key
	// has by now committed (and is seen here) or rolled back. A unique violation on insert
	// remains the backstop.
	if err := e.owners(); err != nil {
		return err
	}
	keys := e.neededAccounts()
	created := e.queueCreateAccounts(b, keys)
	e.queueSelectAccounts(b, keys)
	e.queueReplays(b)
	e.queueIDs(b)
	if err := e.send(ctx, b, "cannot lock accounts"); err != nil {
		return err
	}
	if err := e.checkAccounts(keys, created); err != nil {
		return err
	}
	stage("lock_accounts", &t0)
	computed := 0
	for i := range e.reqs {
		if e.done[i] {
			continue
		}
		if e.missing[i] != nil {
			return e.fail(i, e.missing[i])
		}
		if err := e.compute(i); err != nil {
			return e.fail(i, err)
		}
		computed++
	}
	stage("compute", &t0)
	if computed > 0 {
		if err := e.write(ctx, &t0); err != nil {
			return e.duplicatePending(err)
		}
	}
	for i, j := range e.dupOf {
		if j >= 0 {
			e.results[i] = e.results[j]
			e.results[i].Replayed = true
		}
	}
	return nil
}

// send runs b and passes a *BatchError from a callback through unwrapped.
func (e *engine) send(ctx context.Context, b *pgx.Batch, what string) error {
	err := sendBatch(ctx, e.tx, b)
	if err == nil {
		return nil
	}
	if be := (*BatchError)(nil); errors.As(err, &be) {
		return be
	}
	return fmt.Errorf("%s: %w", what, err)
}

// partnersKnown reports whether every operation to compute names its partner and currency.
func (e *engine) partnersKnown() bool {
	for i := range e.reqs {
		if !e.done[i] && e.reqs[i].partnerID == "" {
			return false
		}
	}
	return true
}

// sendBatch runs the queued statements of b in one round trip; their callbacks run in order.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// dedupe resolves repeated keys inside the batch: a repeat with the same hash replays the
// first, with another hash it is a conflict.
func (e *engine) dedupe() error {
	first := make(map[string]int, len(e.reqs))
	for i := range e.reqs {
		e.dupOf[i] = -1
		j, ok := first[e.reqs[i].key]
		if !ok {
			first[e.reqs[i].key] = i
			continue
		}
		if !bytes.Equal(e.reqs[i].hash, e.reqs[j].hash) {
			return e.fail(i, ErrIdempotencyConflict)
		}
		e.done[i] = true
		e.dupOf[i] = j
	}
	return nil
}

func pendingKindOf(op opKind) string {
	switch op {
	case opAccrue, opAccrueGroup, opVoid, opPartialVoid, opApprove:
		return pendingCommission
	case opPayoutRequest, opPayoutPaid, opPayoutFailed:
		return pendingPayout
	case opStoreCreditRequest, opStoreCreditApproved, opStoreCreditRejected:
		return pendingStoreCredit
	}
	return ""
}

// opens reports whether op creates a pending transfer (rather than resolving one).
func opens(op opKind) bool {
	return op == opAccrue || op == opAccrueGroup || op == opPayoutRequest || op == opStoreCreditRequest
}

// openedRefs calls f with every reference r opens a pending transfer for, and its amount:
// the commissions of a group accrual, else r's own reference and amount.
func (r *request) openedRefs(f func(ref string, amount int64)) {
	if r.op == opAccrueGroup {
		for _, c := range r.items {
			f(c.CommissionID, c.AmountMinor)
		}
		return
	}
	f(r.ref, r.amount)
}

// queuePendingLocks locks the pending transfers the batch resolves. Operations that open
// one are not looked up: a reference that already has one is almost never the case (an
// accrual's key is derived from its reference, so a repeat is a replay), and the primary
// key of ledger_pending refuses it at the write, which duplicatePending reports as
// ErrDuplicateReference. At 1M accruals the lookup was 15 µs of statement time per order.
func (e *engine) queuePendingLocks(b *pgx.Batch) {
	var kinds, refs []string
	for i := range e.reqs {
		if k := pendingKindOf(e.reqs[i].op); k != "" && !e.done[i] && !opens(e.reqs[i].op) {
			kinds = append(kinds, k)
			refs = append(refs, e.reqs[i].ref)
		}
	}
	if len(kinds) == 0 {
		return
	}
	b.Queue(`
		SELECT transfer_id, kind, reference, partner_id, currency, debit_account_id,
		       credit_account_id, amount_minor, posted_minor, voided_minor
		FROM ledger_pending
		WHERE (kind, reference) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY transfer_id, kind, reference -- the commissions of a group accrual share a transfer
		FOR UPDATE`, kinds, refs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			p := &pending{}
			if err := rows.Scan(&p.transferID, &p.key.kind, &p.key.ref, &p.partnerID, &p.currency,
				&p.debitID, &p.creditID, &p.amount, &p.posted, &p.voided); err != nil {
				return err
			}
			e.pendings[p.key] = p
		}
		return rows.Err()
	})
}

func (e *engine) queueReserveLocks(b *pgx.Batch) {
	var ids []string
	for i := range e.reqs {
		switch e.reqs[i].op {
		case opApprove, opReleaseReserve, opClawback:
			if !e.done[i] {
				ids = append(ids, e.reqs[i].ref)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(`
		SELECT commission_id, approve_transfer_id, partner_id, currency, approved_minor,
		       reserve_minor, held_minor, clawed_minor, release_at, coalesce(release_transfer_id, 0)
		FROM ledger_reserves
		WHERE commission_id = ANY($1)
		ORDER BY commission_id
		FOR UPDATE`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			r := &reserve{}
			if err := rows.Scan(&r.commissionID, &r.approveID, &r.partnerID, &r.currency, &r.approved,
				&r.amount, &r.held, &r.clawed, &r.releaseAt, &r.releaseID); err != nil {
				return err
			}
			e.reserves[r.commissionID] = r
		}
		return rows.Err()
	})
}

func (e *engine) queueReplays(b *pgx.Batch) {
	keys := make([]string, 0, len(e.reqs))
	index := make(map[string]int, len(e.reqs))
	for i := range e.reqs {
		if !e.done[i] {
			keys = append(keys, e.reqs[i].key)
			index[e.reqs[i].key] = i
		}
	}
	b.Queue(`SELECT idempotency_key, request_hash, id FROM ledger_transfers WHERE idempotency_key = ANY($1)`, keys).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var key string
				var hash []byte
				var id int64
				if err := rows.Scan(&key, &hash, &id); err != nil {
					return err
				}
				i := index[key]
				if !bytes.Equal(hash, e.reqs[i].hash) {
					return e.fail(i, ErrIdempotencyConflict)
				}
				e.done[i] = true
				e.results[i] = Transfer{ID: id, Key: key, Replayed: true}
			}
			return rows.Err()
		})
}

// accountKinds lists the accounts an operation touches: partner kinds, then program kinds.
func accountKinds(op opKind) (partner, program []string) {
	switch op {
	case opAccrue, opAccrueGroup, opVoid, opPartialVoid:
		return []string{KindAvailable}, []string{KindCommissionExpense}
	case opApprove, opClawback:
		return []string{KindAvailable, KindReserved}, []string{KindCommissionExpense}
	case opReleaseReserve:
		return []string{KindAvailable, KindReserved}, nil
	case opPenalty:
		return []string{KindAvailable}, []string{KindPenaltyIncome}
	case opAdjustment:
		return []string{KindAvailable}, []string{KindAdjustments}
	case opPayoutRequest, opPayoutFailed:
		return []string{KindAvailable}, []string{KindPayoutClearing}
	case opPayoutPaid:
		return []string{KindAvailable, KindPaidOut}, []string{KindPayoutClearing}
	case opStoreCreditRequest, opStoreCreditApproved, opStoreCreditRejected:
		return []string{KindAvailable}, []string{KindStoreCreditLiability}
	}
	panic(fmt.Sprintf("BUG: unknown operation %q", op))
}

// owners fills in the partner and currency of requests that name only a commission,
// payout or store-credit request, from the locked rows or from an earlier operation of
// the batch. An unknown reference fails here, before any account is locked.
func (e *engine) owners() error {
	type owner struct{ partnerID, currency string }
	created := make(map[pendKey]owner)
	approved := make(map[string]owner)
	for i := range e.reqs {
		r := &e.reqs[i]
		if e.done[i] || r.partnerID != "" {
			if !e.done[i] && opens(r.op) {
				r.openedRefs(func(ref string, _ int64) { created[pendKey{pendingKindOf(r.op), ref}] = owner{r.partnerID, r.currency} })
			}
			continue
		}
		var o owner
		var ok bool
		switch r.op {
		case opReleaseReserve, opClawback:
			if rs := e.reserves[r.ref]; rs != nil {
				o, ok = owner{rs.partnerID, rs.currency}, true
			} else {
				o, ok = approved[r.ref]
			}
		default:
			k := pendKey{pendingKindOf(r.op), r.ref}
			if p := e.pendings[k]; p != nil {
				o, ok = owner{p.partnerID, p.currency}, true
			} else {
				o, ok = created[k]
			}
			if ok && r.op == opApprove {
				approved[r.ref] = o
			}
		}
		if !ok {
			// Reported in batch order by compute, after earlier operations had their say.
			e.missing[i] = fmt.Errorf("%s %q: %w", refName(r.op), r.ref, ErrNotFound)
			continue
		}
		r.partnerID, r.currency = o.partnerID, o.currency
	}
	return nil
}

func refName(op opKind) string {
	switch pendingKindOf(op) {
	case pendingPayout:
		return "payout"
	case pendingStoreCredit:
		return "store-credit request"
	}
	return "commission"
}

// neededAccounts lists the accounts the batch touches, sorted by (owner, kind, currency).
func (e *engine) neededAccounts() []acctKey {
	need := make(map[acctKey]bool)
	for i := range e.reqs {
		if e.done[i] || e.missing[i] != nil {
			continue
		}
		r := &e.reqs[i]
		partner, program := accountKinds(r.op)
		for _, k := range partner {
			need[acctKey{PartnerOwner(r.partnerID), k, r.currency}] = true
		}
		for _, k := range program {
			need[acctKey{ProgramOwner, k, r.currency}] = true
		}
	}
	keys := make([]acctKey, 0, len(need))
	for k := range need {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b acctKey) int {
		return strings.Compare(a.owner+"\x00"+a.kind+"\x00"+a.currency, b.owner+"\x00"+b.kind+"\x00"+b.currency)
	})
	return keys
}

// queueCreateAccounts queues the insert of the accounts of keys not known to exist, in
// key order and before any account is locked: an insert may wait for a concurrent insert
// of the same account, and a transaction that waits there holds no account lock yet, so
// the wait cannot close a cycle. (Inserting after locking existing accounts deadlocked:
// TestSharedPartnersNoDeadlock.) The returned set receives the accounts this transaction
// created, which must not be remembered as committed before it commits.
func (e *engine) queueCreateAccounts(b *pgx.Batch, keys []acctKey) map[acctKey]bool {
	created := map[acctKey]bool{}
	unknown := e.known.unknown(keys)
	if len(unknown) == 0 {
		return created
	}
	owners, kinds, curs := splitKeys(unknown)
	b.Queue(`
		INSERT INTO ledger_accounts (owner, kind, currency)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3
		ON CONFLICT (owner, kind, currency) DO NOTHING
		RETURNING owner, kind, currency`, owners, kinds, curs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k acctKey
			if err := rows.Scan(&k.owner, &k.kind, &k.currency); err != nil {
				return err
			}
			created[k] = true
		}
		return rows.Err()
	})
	return created
}

// checkAccounts makes sure every account of keys is locked and remembers the ones that
// were committed before this transaction.
func (e *engine) checkAccounts(keys []acctKey, created map[acctKey]bool) error {
	committed := make([]acctKey, 0, len(keys))
	for _, k := range keys {
		if e.accounts[k] == nil {
			// The cache outlived the rows (errStaleAccountCache): forget it.
			e.known.forget()
			return fmt.Errorf("account %s %s %s is missing after its insert: %w", k.owner, k.kind, k.currency, errStaleAccountCache)
		}
		if !created[k] {
			committed = append(committed, k)
		}
	}
	e.known.add(committed)
	return nil
}

func splitKeys(keys []acctKey) (owners, kinds, curs []string) {
	owners = make([]string, len(keys))
	kinds = make([]string, len(keys))
	curs = make([]string, len(keys))
	for i, k := range keys {
		owners[i], kinds[i], curs[i] = k.owner, k.kind, k.currency
	}
	return owners, kinds, curs
}

func (e *engine) queueSelectAccounts(b *pgx.Batch, keys []acctKey) {
	owners, kinds, curs := splitKeys(keys)
	b.Queue(`
		SELECT id, owner, kind, currency, debits_pending, credits_pending, debits_posted, credits_posted
		FROM ledger_accounts
		WHERE (owner, kind, currency) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))
		ORDER BY id
		FOR UPDATE`, owners, kinds, curs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			a := &account{}
			if err := rows.Scan(&a.id, &a.key.owner, &a.key.kind, &a.key.currency, &a.dp, &a.cp, &a.dpo, &a.cpo); err != nil {
				return err
			}
			e.accounts[a.key] = a
			e.byID[a.id] = a
		}
		return rows.Err()
	})
}

// queueIDs allocates one transfer id per operation not repeated inside the batch.
func (e *engine) queueIDs(b *pgx.Batch) {
	n := 0
	for i := range e.reqs {
		if e.dupOf[i] < 0 {
			n++
		}
	}
	b.Queue(`SELECT nextval('ledger_transfers_id_seq') FROM generate_series(1, $1)`, n).
		Query(func(rows pgx.Rows) error {
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			slices.Sort(ids)
			e.ids = ids
			return err
		})
}

// apply checks that legs balance per phase (a broken balance is a bug in this package),
// applies them to the locked accounts and queues the transfer and its postings.
func (e *engine) apply(row transferRow, legs []leg) error {
	var sums [3]int64
	for _, l := range legs {
		if l.amount == 0 {
			panic("BUG: zero posting")
		}
		sums[l.phase] += l.amount
	}
	if sums != [3]int64{} {
		panic(fmt.Sprintf("BUG: %s transfer does not balance: %v", row.req.op, sums))
	}
	for _, l := range legs {
		if err := l.acct.add(l.phase, l.amount); err != nil {
			return err
		}
	}
	for _, l := range legs {
		e.postings = append(e.postings, []any{row.id, l.acct.id, l.phase, l.amount, l.acct.cpo - l.acct.dpo})
	}
	e.rows = append(e.rows, row)
	return nil
}

// add applies one posting to the account's balance columns.
func (a *account) add(phase int16, amount int64) error {
	col := &a.cpo
	switch {
	case phase == phasePosted && amount < 0:
		col = &a.dpo
	case phase == phasePending && amount > 0, phase == phaseRelease && amount > 0:
		col = &a.cp
	case phase == phasePending && amount < 0, phase == phaseRelease && amount < 0:
		col = &a.dp
	}
	abs := amount
	if abs < 0 {
		abs = -abs
	}
	if phase == phaseRelease {
		if *col < abs {
			panic(fmt.Sprintf("BUG: releasing %d pending on account %d holding %d", abs, a.id, *col))
		}
		*col -= abs
	} else {
		if *col > math.MaxInt64-abs {
			return fmt.Errorf("account %d (%s %s %s) would overflow", a.id, a.key.owner, a.key.kind, a.key.currency)
		}
		*col += abs
	}
	a.dirty = true
	return nil
}
