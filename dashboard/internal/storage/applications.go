package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Application is a partner application from the public form.
type Application struct {
	ID        int64
	Name      string
	Email     string
	SlugWish  string
	Website   string
	Message   string
	Status    string
	Reason    string
	PartnerID int64
	CreatedAt time.Time
}

const applicationColumns = `id, name, email, coalesce(slug_wish, ''), coalesce(website, ''), message, status,
	coalesce(reason, ''), coalesce(partner_id, 0), created_at`

func scanApplication(row pgx.Row) (Application, error) {
	var a Application
	err := row.Scan(&a.ID, &a.Name, &a.Email, &a.SlugWish, &a.Website, &a.Message, &a.Status, &a.Reason,
		&a.PartnerID, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Application{}, ErrNotFound
	}
	if err != nil {
		return Application{}, fmt.Errorf("cannot read application: %w", err)
	}
	return a, nil
}

// ErrHasAccount reports an application for an e-mail that already has a
// login or a partner. The public form answers it as it answers a stored
// application, so that the form does not tell who has an account.
var ErrHasAccount = errors.New("the e-mail already has an account")

// CreateApplication stores a pending application. A second submission
// for an e-mail with a pending application is a conflict on "email"; an
// e-mail that already has a login or a partner stores nothing and is
// ErrHasAccount.
func (s *Storage) CreateApplication(ctx context.Context, a Application, passwordHash string) (Application, error) {
	var out Application
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))
			OR EXISTS (SELECT 1 FROM partners WHERE lower(email) = lower($1))`, a.Email).Scan(&exists); err != nil {
			return fmt.Errorf("cannot check e-mail: %w", err)
		}
		if exists {
			return ErrHasAccount
		}
		var err error
		out, err = scanApplication(tx.QueryRow(ctx, `INSERT INTO partner_applications
			(name, email, slug_wish, website, message, password_hash)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+applicationColumns,
			strings.TrimSpace(a.Name), strings.TrimSpace(a.Email), nullStr(a.SlugWish), nullStr(a.Website),
			a.Message, passwordHash))
		if err != nil {
			return uniqueViolation(err, map[string]string{"email": "email", "slug_wish": "slug"})
		}
		return nil
	})
	return out, err
}

// Application reads one application.
func (s *Storage) Application(ctx context.Context, id int64) (Application, error) {
	return scanApplication(s.pool.QueryRow(ctx, `SELECT `+applicationColumns+` FROM partner_applications WHERE id = $1`, id))
}

// Applications lists applications in a status (all when ""), newest first.
func (s *Storage) Applications(ctx context.Context, status string, pg Page) ([]Application, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+applicationColumns+` FROM partner_applications
		WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`,
		status, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list applications: %w", err)
	}
	out, err := collect(rows, scanApplication)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// ApproveApplication turns a pending application into an active partner
// with slug and a partner user carrying the applicant's password hash. It
// is idempotent: approving an approved application returns its partner.
func (s *Storage) ApproveApplication(ctx context.Context, id, adminID int64, slug string) (Partner, error) {
	var out Partner
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var a Application
		var hash *string
		err := tx.QueryRow(ctx, `SELECT id, name, email, coalesce(website, ''), status, coalesce(partner_id, 0), password_hash
			FROM partner_applications WHERE id = $1 FOR UPDATE`, id).Scan(
			&a.ID, &a.Name, &a.Email, &a.Website, &a.Status, &a.PartnerID, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("cannot read application: %w", err)
		}
		switch a.Status {
		case "approved":
			out, err = scanPartner(tx.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, a.PartnerID))
			return err
		case "rejected":
			return &FieldError{Field: "status", Msg: "the application was rejected", Err: ErrConflict}
		}
		out, err = createPartnerTx(ctx, tx, Partner{Name: a.Name, Email: a.Email, Slug: slug, Website: a.Website, DefaultRateUPct: -1})
		if err != nil {
			return err
		}
		if hash != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO users (email, password_hash, role, partner_id)
				VALUES ($1, $2, 'partner', $3)`, a.Email, *hash, out.ID); err != nil {
				return uniqueViolation(err, map[string]string{"users_email": "email"})
			}
		}
		_, err = tx.Exec(ctx, `UPDATE partner_applications SET status = 'approved', partner_id = $2,
			decided_by = $3, decided_at = now(), password_hash = NULL WHERE id = $1`, id, out.ID, nullID(adminID))
		if err != nil {
			return fmt.Errorf("cannot approve application: %w", err)
		}
		return nil
	})
	return out, err
}

// RejectApplication rejects a pending application with a reason.
func (s *Storage) RejectApplication(ctx context.Context, id, adminID int64, reason string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE partner_applications SET status = 'rejected', reason = $2,
		decided_by = $3, decided_at = now(), password_hash = NULL WHERE id = $1 AND status = 'pending'`, id, reason, nullID(adminID))
	if err != nil {
		return fmt.Errorf("cannot reject application: %w", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Application(ctx, id); err != nil {
			return err
		}
		return &FieldError{Field: "status", Msg: "the application is already decided", Err: ErrConflict}
	}
	return nil
}

// CreatePartnerUser gives a partner a login.
func (s *Storage) CreatePartnerUser(ctx context.Context, partnerID int64, email, passwordHash string) (User, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, role, partner_id) VALUES ($1, $2, 'partner', $3)
		RETURNING id`, email, passwordHash, partnerID).Scan(&id)
	if err != nil {
		return User{}, uniqueViolation(err, map[string]string{"users_email": "email"})
	}
	return s.User(ctx, id)
}
