package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maxReportItems bounds each list of a Report; Truncated says when more were found.
const maxReportItems = 1000

// Columns are the four balance columns of an account.
type Columns struct {
	DebitsPending, CreditsPending, DebitsPosted, CreditsPosted int64
}

// AccountDiff is an account whose stored balance differs from the one derived from its postings.
type AccountDiff struct {
	AccountID             int64
	Owner, Kind, Currency string
	Stored, Derived       Columns
}

// Imbalance is a non-zero sum of postings that must sum to zero: over a whole currency
// (TransferID 0) or over one transfer.
type Imbalance struct {
	TransferID int64
	Currency   string
	Phase      string
	SumMinor   int64
}

// PendingDiff is pending state that differs from the transfers and postings. Quantity
// says which:
//   - "remaining": a pending transfer's remaining amount, summed over its pending rows (a
//     group accrual has one per commission), against its pending postings minus the
//     releases recorded against it (Reference is empty);
//   - "resolved": one pending row's posted + voided against what the resolutions naming it
//     (pending_id, reference) released;
//   - "amount": one pending row's amount against the transfer that opened it (a group
//     accrual's split, recorded in its note).
type PendingDiff struct {
	TransferID      int64
	Reference       string
	Quantity        string
	Stored, Derived int64
}

// Report is the result of Verify; the ledger is consistent when OK returns true.
type Report struct {
	Accounts   []AccountDiff // stored balance ≠ balance derived from postings
	Currencies []Imbalance   // global sum per currency and phase ≠ 0
	Transfers  []Imbalance   // per-transfer sum per currency and phase ≠ 0
	Short      []int64       // transfers with fewer than two postings
	Pending    []PendingDiff // pending state ≠ postings
	// Dangling describes postings and pending rows whose transfer or account is missing
	// (these tables have no foreign keys, for speed).
	Dangling []string
	// Truncated is true when some list was cut at 1000 items.
	Truncated bool
	// AccountsChecked and TransfersChecked count what was verified.
	AccountsChecked, TransfersChecked int64
}

// OK reports whether no difference was found.
func (r *Report) OK() bool {
	return len(r.Accounts) == 0 && len(r.Currencies) == 0 && len(r.Transfers) == 0 &&
		len(r.Short) == 0 && len(r.Pending) == 0 && len(r.Dangling) == 0
}

// String describes every difference, one per line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d accounts, %d transfers", r.AccountsChecked, r.TransfersChecked)
	for _, d := range r.Accounts {
		fmt.Fprintf(&b, "\naccount %d (%s %s %s): stored %+v, derived %+v", d.AccountID, d.Owner, d.Kind, d.Currency, d.Stored, d.Derived)
	}
	for _, d := range r.Currencies {
		fmt.Fprintf(&b, "\ncurrency %s phase %s sums to %d", d.Currency, d.Phase, d.SumMinor)
	}
	for _, d := range r.Transfers {
		fmt.Fprintf(&b, "\ntransfer %d currency %s phase %s sums to %d", d.TransferID, d.Currency, d.Phase, d.SumMinor)
	}
	for _, id := range r.Short {
		fmt.Fprintf(&b, "\ntransfer %d has fewer than two postings", id)
	}
	for _, d := range r.Pending {
		fmt.Fprintf(&b, "\npending transfer %d", d.TransferID)
		if d.Reference != "" {
			fmt.Fprintf(&b, ", %q", d.Reference)
		}
		fmt.Fprintf(&b, ": stored %s %d, derived %d", d.Quantity, d.Stored, d.Derived)
	}
	for _, d := range r.Dangling {
		b.WriteString("\n" + d)
	}
	if r.Truncated {
		b.WriteString("\n(truncated)")
	}
	return b.String()
}

// Verify recomputes every balance from the postings, in one consistent snapshot, and
// checks that postings sum to zero per currency and phase, globally and per transfer;
// that every transfer has at least two postings; and that the state of every pending
// transfer matches its postings. It returns an error only when it cannot run the checks;
// differences are in the Report.
func (l *Ledger) Verify(ctx context.Context) (*Report, error) {
	r := &Report{}
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM ledger_accounts), (SELECT count(*) FROM ledger_transfers)`).
			Scan(&r.AccountsChecked, &r.TransfersChecked); err != nil {
			return err
		}
		if err := r.verifyAccounts(ctx, tx); err != nil {
			return err
		}
		if err := r.verifySums(ctx, tx); err != nil {
			return err
		}
		if err := r.verifyPending(ctx, tx); err != nil {
			return err
		}
		return r.verifyReferences(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot verify ledger: %w", err)
	}
	return r, nil
}

func (r *Report) verifyAccounts(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `
		WITH d AS (
			SELECT account_id,
				sum(CASE WHEN phase = 1 AND amount_minor < 0 THEN -amount_minor
				         WHEN phase = 2 AND amount_minor < 0 THEN amount_minor ELSE 0 END) AS dp,
				sum(CASE WHEN phase = 1 AND amount_minor > 0 THEN amount_minor
				         WHEN phase = 2 AND amount_minor > 0 THEN -amount_minor ELSE 0 END) AS cp,
				sum(CASE WHEN phase = 0 AND amount_minor < 0 THEN -amount_minor ELSE 0 END) AS dpo,
				sum(CASE WHEN phase = 0 AND amount_minor > 0 THEN amount_minor ELSE 0 END) AS cpo
			FROM ledger_postings GROUP BY account_id
		)
		SELECT a.id, a.owner, a.kind, a.currency,
			a.debits_pending, a.credits_pending, a.debits_posted, a.credits_posted,
			coalesce(d.dp, 0)::bigint, coalesce(d.cp, 0)::bigint, coalesce(d.dpo, 0)::bigint, coalesce(d.cpo, 0)::bigint
		FROM ledger_accounts a LEFT JOIN d ON d.account_id = a.id
		WHERE (a.debits_pending, a.credits_pending, a.debits_posted, a.credits_posted)
			IS DISTINCT FROM (coalesce(d.dp, 0), coalesce(d.cp, 0), coalesce(d.dpo, 0), coalesce(d.cpo, 0))
		ORDER BY a.id
		LIMIT $1`, maxReportItems+1)
	if err != nil {
		return err
	}
	r.Accounts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccountDiff, error) {
		var d AccountDiff
		err := row.Scan(&d.AccountID, &d.Owner, &d.Kind, &d.Currency,
			&d.Stored.DebitsPending, &d.Stored.CreditsPending, &d.Stored.DebitsPosted, &d.Stored.CreditsPosted,
			&d.Derived.DebitsPending, &d.Derived.CreditsPending, &d.Derived.DebitsPosted, &d.Derived.CreditsPosted)
		return d, err
	})
	if len(r.Accounts) > maxReportItems {
		r.Accounts, r.Truncated = r.Accounts[:maxReportItems], true
	}
	return err
}

func (r *Report) verifySums(ctx context.Context, tx pgx.Tx) error {
	scan := func(row pgx.CollectableRow) (Imbalance, error) {
		var d Imbalance
		var phase int16
		err := row.Scan(&d.TransferID, &d.Currency, &phase, &d.SumMinor)
		d.Phase = phaseName(phase)
		return d, err
	}
	rows, err := tx.Query(ctx, `
		SELECT 0::bigint, a.currency, p.phase, sum(p.amount_minor)::bigint
		FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
		GROUP BY a.currency, p.phase HAVING sum(p.amount_minor) <> 0
		ORDER BY 2, 3`)
	if err != nil {
		return err
	}
	if r.Currencies, err = pgx.CollectRows(rows, scan); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `
		SELECT p.transfer_id, a.currency, p.phase, sum(p.amount_minor)::bigint
		FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
		GROUP BY p.transfer_id, a.currency, p.phase HAVING sum(p.amount_minor) <> 0
		ORDER BY 1, 2, 3
		LIMIT $1`, maxReportItems+1)
	if err != nil {
		return err
	}
	if r.Transfers, err = pgx.CollectRows(rows, scan); err != nil {
		return err
	}
	if len(r.Transfers) > maxReportItems {
		r.Transfers, r.Truncated = r.Transfers[:maxReportItems], true
	}
	rows, err = tx.Query(ctx, `
		SELECT t.id FROM ledger_transfers t LEFT JOIN ledger_postings p ON p.transfer_id = t.id
		GROUP BY t.id HAVING count(p.id) < 2
		ORDER BY 1
		LIMIT $1`, maxReportItems+1)
	if err != nil {
		return err
	}
	if r.Short, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return err
	}
	if len(r.Short) > maxReportItems {
		r.Short, r.Truncated = r.Short[:maxReportItems], true
	}
	return nil
}

func (r *Report) verifyPending(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `
		WITH opened AS (
			SELECT transfer_id AS id, sum(amount_minor) AS s FROM ledger_postings
			WHERE phase = 1 AND amount_minor > 0 GROUP BY transfer_id
		), by_ref AS ( -- what the resolutions of each pending row released
			SELECT t.pending_id AS id, t.reference AS ref, sum(p.amount_minor) AS s
			FROM ledger_postings p JOIN ledger_transfers t ON t.id = p.transfer_id
			WHERE p.phase = 2 AND p.amount_minor > 0 GROUP BY t.pending_id, t.reference
		), released AS ( -- per pending transfer: the same releases, not read twice
			SELECT id, sum(s) AS s FROM by_ref GROUP BY id
		), derived AS (
			SELECT coalesce(o.id, r.id) AS id, coalesce(o.s, 0) - coalesce(r.s, 0) AS remaining
			FROM opened o FULL JOIN released r ON r.id = o.id
		), stored AS ( -- the commissions of a group accrual share one pending transfer
			SELECT transfer_id AS id, sum(amount_minor - posted_minor - voided_minor) AS remaining
			FROM ledger_pending GROUP BY transfer_id
		), split AS ( -- a group accrual's split, from its note (each note parsed once)
			SELECT t.id, e ->> 'CommissionID' AS ref, (e ->> 'AmountMinor')::bigint AS amount
			FROM ledger_transfers t CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN t.operation = 'accrue_group' THEN t.note::jsonb END) e
			WHERE t.operation = 'accrue_group'
		), opened_amount AS ( -- what the opening transfer says each pending row holds
			SELECT lp.transfer_id AS id, lp.reference AS ref, lp.amount_minor AS stored,
				CASE WHEN t.operation = 'accrue_group' THEN g.amount ELSE t.amount_minor END AS derived
			FROM ledger_pending lp JOIN ledger_transfers t ON t.id = lp.transfer_id
			LEFT JOIN split g ON g.id = lp.transfer_id AND g.ref = lp.reference
		)
		SELECT coalesce(s.id, d.id), '', 'remaining', coalesce(s.remaining, 0)::bigint, coalesce(d.remaining, 0)::bigint
		FROM stored s FULL JOIN derived d ON d.id = s.id
		WHERE coalesce(s.remaining, 0) <> coalesce(d.remaining, 0)
		UNION ALL
		SELECT coalesce(lp.transfer_id, b.id), coalesce(lp.reference, b.ref), 'resolved',
			coalesce(lp.posted_minor + lp.voided_minor, 0)::bigint, coalesce(b.s, 0)::bigint
		FROM ledger_pending lp FULL JOIN by_ref b ON b.id = lp.transfer_id AND b.ref = lp.reference
		WHERE coalesce(lp.posted_minor + lp.voided_minor, 0) <> coalesce(b.s, 0)
		UNION ALL
		SELECT id, ref, 'amount', stored, coalesce(derived, 0)::bigint FROM opened_amount
		WHERE stored IS DISTINCT FROM derived
		ORDER BY 1, 2, 3
		LIMIT $1`, maxReportItems+1)
	if err != nil {
		return err
	}
	r.Pending, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (PendingDiff, error) {
		var d PendingDiff
		err := row.Scan(&d.TransferID, &d.Reference, &d.Quantity, &d.Stored, &d.Derived)
		return d, err
	})
	if len(r.Pending) > maxReportItems {
		r.Pending, r.Truncated = r.Pending[:maxReportItems], true
	}
	return err
}

func (r *Report) verifyReferences(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `
		SELECT 'posting ' || p.id || ': transfer ' || p.transfer_id || ' missing'
		FROM ledger_postings p LEFT JOIN ledger_transfers t ON t.id = p.transfer_id WHERE t.id IS NULL
		UNION ALL
		SELECT 'posting ' || p.id || ': account ' || p.account_id || ' missing'
		FROM ledger_postings p LEFT JOIN ledger_accounts a ON a.id = p.account_id WHERE a.id IS NULL
		UNION ALL
		SELECT 'pending ' || lp.transfer_id || ': transfer missing'
		FROM ledger_pending lp LEFT JOIN ledger_transfers t ON t.id = lp.transfer_id WHERE t.id IS NULL
		UNION ALL
		SELECT 'pending ' || lp.transfer_id || ': account ' || x.id || ' missing'
		FROM ledger_pending lp CROSS JOIN LATERAL (VALUES (lp.debit_account_id), (lp.credit_account_id)) AS x(id)
		LEFT JOIN ledger_accounts a ON a.id = x.id WHERE a.id IS NULL
		LIMIT $1`, maxReportItems+1)
	if err != nil {
		return err
	}
	if r.Dangling, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return err
	}
	if len(r.Dangling) > maxReportItems {
		r.Dangling, r.Truncated = r.Dangling[:maxReportItems], true
	}
	return nil
}
