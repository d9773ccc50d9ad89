package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Binding is a customer → partner binding.
type Binding struct {
	ID         int64
	CustomerID string
	Email      string
	PartnerID  int64
	Source     string
	BoundAt    time.Time
}

// BoundCustomers lists a partner's currently bound customers, newest first.
func (s *Storage) BoundCustomers(ctx context.Context, partnerID int64, pg Page) ([]Binding, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.customer_id, coalesce(c.email, ''), b.partner_id, b.source, b.bound_at
		FROM customer_bindings b JOIN customers c USING (customer_id)
		WHERE b.partner_id = $1 AND b.detached_at IS NULL
		ORDER BY b.bound_at DESC, b.id DESC LIMIT $2 OFFSET $3`, partnerID, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list customers: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (Binding, error) {
		var b Binding
		if err := r.Scan(&b.ID, &b.CustomerID, &b.Email, &b.PartnerID, &b.Source, &b.BoundAt); err != nil {
			return Binding{}, fmt.Errorf("cannot read binding: %w", err)
		}
		return b, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// CurrentBinding returns the open binding of a customer.
func (s *Storage) CurrentBinding(ctx context.Context, customerID string) (Binding, error) {
	var b Binding
	err := s.pool.QueryRow(ctx, `SELECT b.id, b.customer_id, coalesce(c.email, ''), b.partner_id, b.source, b.bound_at
		FROM customer_bindings b JOIN customers c USING (customer_id)
		WHERE b.customer_id = $1 AND b.detached_at IS NULL`, customerID).Scan(
		&b.ID, &b.CustomerID, &b.Email, &b.PartnerID, &b.Source, &b.BoundAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Binding{}, ErrNotFound
	}
	if err != nil {
		return Binding{}, fmt.Errorf("cannot read binding: %w", err)
	}
	return b, nil
}

// CustomerID resolves a customer given by id or e-mail (the oldest account
// with that e-mail).
func (s *Storage) CustomerID(ctx context.Context, idOrEmail string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT customer_id FROM customers WHERE customer_id = $1 OR lower(email) = lower($1)
		ORDER BY customer_id = $1 DESC, first_seen_at LIMIT 1`, idOrEmail).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("cannot find customer: %w", err)
	}
	return id, nil
}

// lockCustomer locks a customer's row so that attaches and claims of the
// customer take turns. FOR NO KEY UPDATE, not FOR UPDATE: the settler's
// binding insert takes FOR KEY SHARE on the row (its foreign key) after
// its unique-index entry, and FOR UPDATE would wait for it while the
// attach's insert waits for the settler: a deadlock.
const lockCustomer = `SELECT 1 FROM customers WHERE customer_id = $1 FOR NO KEY UPDATE`

// AttachCustomer binds customerID to partnerID as the admin. An open
// binding to another partner is closed first; binding to the same partner
// again is a no-op. An unknown customer is created (the admin may bind a
// customer before the shop has sent any event for it). The customer's row
// is locked, as a partner's claim locks it, so that concurrent attaches
// and claims take turns; a binding the settler makes meanwhile (it takes
// no such lock) is found by the insert and dealt with like one read first.
func (s *Storage) AttachCustomer(ctx context.Context, customerID string, partnerID, adminID int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := partnerExists(ctx, tx, partnerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO customers (customer_id, first_seen_at) VALUES ($1, now())
			ON CONFLICT (customer_id) DO NOTHING`, customerID); err != nil {
			return fmt.Errorf("cannot create customer: %w", err)
		}
		if _, err := tx.Exec(ctx, lockCustomer, customerID); err != nil {
			return fmt.Errorf("cannot lock customer: %w", err)
		}
		for range 3 {
			var cur int64
			err := tx.QueryRow(ctx, `SELECT partner_id FROM customer_bindings WHERE customer_id = $1 AND detached_at IS NULL FOR UPDATE`,
				customerID).Scan(&cur)
			switch {
			case err == nil && cur == partnerID:
				return nil
			case err == nil:
				if err := closeBinding(ctx, tx, customerID, adminID); err != nil {
					return err
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("cannot read binding: %w", err)
			}
			tag, err := tx.Exec(ctx, `INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, created_by)
				VALUES ($1, $2, 'admin', now(), $3) ON CONFLICT (customer_id) WHERE detached_at IS NULL DO NOTHING`,
				customerID, partnerID, nullID(adminID))
			if err != nil {
				return fmt.Errorf("cannot bind customer: %w", err)
			}
			if tag.RowsAffected() == 1 {
				return nil
			}
			// The settler bound the customer meanwhile: read it again.
		}
		return fmt.Errorf("cannot bind customer %q: its binding keeps changing", customerID)
	})
}

// closeBinding closes the customer's open binding as the admin, at now or,
// for a binding that starts later (bound from a shop's clock ahead of
// ours by a release before that was clamped), at its start.
func closeBinding(ctx context.Context, tx pgx.Tx, customerID string, adminID int64) error {
	if _, err := tx.Exec(ctx, `UPDATE customer_bindings SET detached_at = GREATEST(now(), bound_at), detached_by = $2
		WHERE customer_id = $1 AND detached_at IS NULL`, customerID, nullID(adminID)); err != nil {
		return fmt.Errorf("cannot detach customer: %w", err)
	}
	return nil
}

// DetachCustomer closes the customer's binding to partnerID. It is
// ErrNotFound when the customer is not bound to that partner.
func (s *Storage) DetachCustomer(ctx context.Context, customerID string, partnerID, adminID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customer_bindings SET detached_at = GREATEST(now(), bound_at), detached_by = $3
		WHERE customer_id = $1 AND partner_id = $2 AND detached_at IS NULL`, customerID, partnerID, nullID(adminID))
	if err != nil {
		return fmt.Errorf("cannot detach customer: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ClaimCustomer binds the customer with e-mail to partnerID when that
// customer exists and is unbound. A bound customer is ErrConflict; an
// unknown e-mail is ErrNotFound. Both answers are deliberately the same to
// the partner UI so it cannot probe who is bound to whom.
//
// Refused, naming the field email: the partner's own e-mail or one of its
// logins' (its own purchases would earn it commission through the
// binding: self-referral), the partner's own customer account, and a
// customer the admin detached from this partner (only the admin may bind
// it to them again).
func (s *Storage) ClaimCustomer(ctx context.Context, partnerID, userID int64, email string) (string, error) {
	var customerID string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Before the customer is looked up, so the answer says nothing
		// about whether such a customer exists.
		var own string
		err := tx.QueryRow(ctx, `SELECT which FROM (
				SELECT 'your partner account''s e-mail address' AS which, 1 AS o FROM partners WHERE id = $1 AND lower(email) = lower($2)
				UNION ALL
				SELECT 'the e-mail address of your login', 2 FROM users WHERE partner_id = $1 AND lower(email) = lower($2)) m
			ORDER BY o LIMIT 1`, partnerID, email).Scan(&own)
		if err == nil {
			return &FieldError{Field: "email", Msg: "is " + own + ": your own purchases never earn you commission", Err: ErrConflict}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cannot check self-referral: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT customer_id FROM customers WHERE lower(email) = lower($1)
			ORDER BY first_seen_at LIMIT 1 FOR NO KEY UPDATE`, email).Scan(&customerID) // as AttachCustomer's lock
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("cannot find customer: %w", err)
		}
		var self, detached bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1 AND customer_id = $2),
				EXISTS (SELECT 1 FROM customer_bindings WHERE customer_id = $2 AND partner_id = $1 AND detached_at IS NOT NULL)
				AND NOT EXISTS (SELECT 1 FROM customer_bindings WHERE customer_id = $2 AND partner_id = $1 AND detached_at IS NULL)`,
			partnerID, customerID).Scan(&self, &detached); err != nil {
			return fmt.Errorf("cannot check self-referral: %w", err)
		}
		if self {
			return &FieldError{Field: "email", Msg: "is your own customer account", Err: ErrConflict}
		}
		if detached {
			// Only admins close bindings (DetachCustomer, or AttachCustomer
			// moving the customer), so this partner knew the customer: the
			// answer tells it nothing new.
			return &FieldError{Field: "email", Msg: "was detached from you by the admin; only the admin can link this customer to you again",
				Err: ErrConflict}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, created_by)
			VALUES ($1, $2, 'claim', now(), $3) ON CONFLICT (customer_id) WHERE detached_at IS NULL DO NOTHING`,
			customerID, partnerID, nullID(userID))
		if err != nil {
			return fmt.Errorf("cannot claim customer: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// Already bound: to this partner it is a repeat (success).
			var cur int64
			if err := tx.QueryRow(ctx, `SELECT partner_id FROM customer_bindings WHERE customer_id = $1 AND detached_at IS NULL`,
				customerID).Scan(&cur); err != nil {
				return fmt.Errorf("cannot read binding: %w", err)
			}
			if cur != partnerID {
				return ErrConflict
			}
		}
		return nil
	})
	return customerID, err
}

func nullID(id int64) any {
	if id <= 0 {
		return nil
	}
	return id
}

func partnerExists(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id int64) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)`, id).Scan(&ok); err != nil {
		return fmt.Errorf("cannot check partner: %w", err)
	}
	if !ok {
		return &FieldError{Field: "partner_id", Msg: "no such partner", Err: ErrNotFound}
	}
	return nil
}

// BankAccount holds a partner's payout details.
type BankAccount struct {
	Holder    string
	IBAN      string
	BIC       string
	UpdatedAt time.Time
}

// BankAccount reads a partner's bank details.
func (s *Storage) BankAccount(ctx context.Context, partnerID int64) (BankAccount, error) {
	var b BankAccount
	err := s.pool.QueryRow(ctx, `SELECT holder, iban, coalesce(bic, ''), updated_at FROM bank_accounts WHERE partner_id = $1`,
		partnerID).Scan(&b.Holder, &b.IBAN, &b.BIC, &b.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return BankAccount{}, ErrNotFound
	}
	if err != nil {
		return BankAccount{}, fmt.Errorf("cannot read bank account: %w", err)
	}
	return b, nil
}

// SetBankAccount upserts a partner's bank details (already validated).
func (s *Storage) SetBankAccount(ctx context.Context, partnerID int64, b BankAccount) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO bank_accounts (partner_id, holder, iban, bic) VALUES ($1, $2, $3, $4)
		ON CONFLICT (partner_id) DO UPDATE SET holder = EXCLUDED.holder, iban = EXCLUDED.iban, bic = EXCLUDED.bic,
			updated_at = now()`, partnerID, b.Holder, b.IBAN, nullStr(b.BIC))
	if err != nil {
		return fmt.Errorf("cannot save bank account: %w", err)
	}
	return nil
}
