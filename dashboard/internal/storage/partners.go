package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Partner is an affiliate. DefaultRateUPct < 0 means "the program default".
type Partner struct {
	ID              int64
	Name            string
	Email           string
	Slug            string
	Status          string
	DefaultRateUPct int64
	CustomerID      string
	Phone           string
	Company         string
	Website         string
	LandingURL      string
	CreatedAt       time.Time
	// UpdatedAt is when the profile last changed: the version a form
	// carries (ModifyPartner).
	UpdatedAt time.Time
}

// Version is the profile's version for a form (UpdatedAt): a form saved
// with another is refused (ErrPartnerChanged).
func (p Partner) Version() string { return p.UpdatedAt.UTC().Format(time.RFC3339Nano) }

// HasDefaultRate reports whether the partner has its own default rate.
func (p Partner) HasDefaultRate() bool { return p.DefaultRateUPct >= 0 }

// ReservedSlugs are first path segments that can never be a partner slug
// (the tracker's and the dashboard's own routes; DESIGN 4.2).
var ReservedSlugs = []string{"r", "v1", "healthz", "metrics", "static", "api",
	"admin", "partner", "login", "logout", "apply"}

// ValidateSlug checks the slug syntax the schema enforces, with a message a
// person can act on. The slug must already be lower-case.
func ValidateSlug(slug string) error {
	if slug == "" || len(slug) > 40 {
		return errors.New("must be 1 to 40 characters")
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' || c == '_') && i > 0 && i < len(slug)-1
		if !ok {
			return errors.New("may hold only a-z, 0-9, and - or _ inside")
		}
	}
	for _, r := range ReservedSlugs {
		if slug == r {
			return fmt.Errorf("%q is reserved", slug)
		}
	}
	return nil
}

const partnerColumns = `id, name, email, slug, status, coalesce(default_rate_upct, -1), coalesce(customer_id, ''),
	coalesce(phone, ''), coalesce(company, ''), coalesce(website, ''), coalesce(landing_url, ''), created_at, updated_at`

func scanPartner(row pgx.Row) (Partner, error) {
	var p Partner
	err := row.Scan(&p.ID, &p.Name, &p.Email, &p.Slug, &p.Status, &p.DefaultRateUPct, &p.CustomerID,
		&p.Phone, &p.Company, &p.Website, &p.LandingURL, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Partner{}, ErrNotFound
	}
	if err != nil {
		return Partner{}, fmt.Errorf("cannot read partner: %w", err)
	}
	return p, nil
}

var partnerFields = map[string]string{"slug": "slug", "email": "email", "name": "name", "phone": "phone",
	"website": "website", "landing_url": "landing_url", "default_rate": "default_rate", "customer": "customer_id"}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullRate(upct int64) any {
	if upct < 0 {
		return nil
	}
	return upct
}

// CreatePartner inserts an active partner and returns it.
func (s *Storage) CreatePartner(ctx context.Context, p Partner) (Partner, error) {
	var out Partner
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = createPartnerTx(ctx, tx, p)
		return err
	})
	return out, err
}

func createPartnerTx(ctx context.Context, tx pgx.Tx, p Partner) (Partner, error) {
	out, err := scanPartner(tx.QueryRow(ctx, `INSERT INTO partners (name, email, slug, default_rate_upct, phone, company, website, status)
		VALUES ($1, $2, lower($3), $4, $5, $6, $7, 'active') RETURNING `+partnerColumns,
		strings.TrimSpace(p.Name), strings.TrimSpace(p.Email), p.Slug, nullRate(p.DefaultRateUPct),
		nullStr(p.Phone), nullStr(p.Company), nullStr(p.Website)))
	if err != nil {
		return Partner{}, uniqueViolation(err, partnerFields)
	}
	return out, nil
}

// Partner reads one partner.
func (s *Storage) Partner(ctx context.Context, id int64) (Partner, error) {
	return scanPartner(s.pool.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, id))
}

// PartnerFilter narrows the partner list.
type PartnerFilter struct {
	Query  string // part of the name, e-mail or slug (case-insensitive)
	Status string
}

// Partners lists partners ordered by id, one page at a time, and reports
// whether there is a next page. f.Query matches anywhere in the name, the
// e-mail or the slug, case-insensitively ("guru" finds "Gear Guru",
// "demo.local" finds "x@demo.local"); '%', '_' and '\' in it are literal.
func (s *Storage) Partners(ctx context.Context, f PartnerFilter, pg Page) ([]Partner, bool, error) {
	pg = pg.Normalize()
	// Both sides are lowered by Postgres, so that letters outside ASCII
	// compare under the same rules.
	q := strings.TrimSpace(f.Query)
	rows, err := s.pool.Query(ctx, `SELECT `+partnerColumns+` FROM partners
		WHERE ($1 = '' OR lower(name) LIKE '%' || lower($1) || '%' OR lower(email) LIKE '%' || lower($1) || '%'
			OR lower(slug) LIKE '%' || lower($1) || '%')
		  AND ($2 = '' OR status = $2)
		ORDER BY id DESC LIMIT $3 OFFSET $4`, likeEscape(q), f.Status, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list partners: %w", err)
	}
	out, err := collect(rows, scanPartner)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// PartnerNames returns id → name for a small set of ids (list decoration).
func (s *Storage) PartnerNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name FROM partners WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("cannot read partner names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("cannot read partner name: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

// ErrPartnerChanged is ModifyPartner's conflict when the form's version
// is not the partner's any more.
var ErrPartnerChanged = &FieldError{Field: "version",
	Msg: "the partner was changed by someone else since this page was loaded; reload it and make the change again", Err: ErrConflict}

// ModifyPartner changes the editable profile fields of partner id: apply
// gets the partner as it is now, locked until the change commits, so that
// two admins changing different fields at once (a suspension and a rate,
// say) both take effect instead of the later write putting back what the
// earlier changed. apply's error is returned and nothing is written. The
// partner's login follows its e-mail in the same transaction: a login is
// the partner's e-mail, so a changed address (say, after a mailbox was
// taken over) leaves no login under the old one. An address another login
// already has is a conflict on "email", and nothing is written.
func (s *Storage) ModifyPartner(ctx context.Context, id int64, apply func(*Partner) error) (Partner, error) {
	var p Partner
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if p, err = scanPartner(tx.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1 FOR UPDATE`, id)); err != nil {
			return err
		}
		if err := apply(&p); err != nil {
			return err
		}
		p.ID = id
		email := strings.TrimSpace(p.Email)
		row := tx.QueryRow(ctx, `UPDATE partners SET name = $2, email = $3, slug = lower($4), status = $5,
		default_rate_upct = $6, phone = $7, company = $8, website = $9, landing_url = $10,
		customer_id = $11, updated_at = clock_timestamp()
		WHERE id = $1 RETURNING `+partnerColumns, p.ID, strings.TrimSpace(p.Name), email, p.Slug, p.Status,
			nullRate(p.DefaultRateUPct), nullStr(p.Phone), nullStr(p.Company), nullStr(p.Website),
			nullStr(p.LandingURL), nullStr(p.CustomerID))
		if p, err = scanPartner(row); err != nil {
			return uniqueViolation(err, partnerFields)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2, updated_at = now()
		WHERE partner_id = $1 AND role = 'partner' AND email <> $2`, p.ID, email); err != nil {
			return uniqueViolation(err, partnerFields)
		}
		return nil
	})
	return p, err
}

// SetSlug changes a partner's custom site link.
func (s *Storage) SetSlug(ctx context.Context, partnerID int64, slug string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE partners SET slug = lower($2), updated_at = now() WHERE id = $1`, partnerID, slug)
	if err != nil {
		return uniqueViolation(err, partnerFields)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// CountPartners returns the number of partners (dashboard header).
func (s *Storage) CountPartners(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM partners`).Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot count partners: %w", err)
	}
	return n, nil
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// collect scans every row with scan and checks rows.Err.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read rows: %w", err)
	}
	return out, nil
}

// trimPage drops the look-ahead row and reports whether it existed.
func trimPage[T any](rows []T, pg Page) ([]T, bool, error) {
	if len(rows) > pg.Size {
		return rows[:pg.Size], true, nil
	}
	return rows, false, nil
}

// AdminCounts are the numbers on the admin overview.
type AdminCounts struct {
	Partners, Applications, PendingCommissions, Payouts, StoreCredits int64
}

// PendingCountCap caps the overview's pending-commission count: counting
// 100k index entries took 45 ms, 10k take a few.
const PendingCountCap = 10000

// AdminCounts reads the overview counters. Pending commissions are
// counted through commissions_state_idx, up to PendingCountCap+1.
func (s *Storage) AdminCounts(ctx context.Context) (AdminCounts, error) {
	var c AdminCounts
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM partners),
		(SELECT count(*) FROM partner_applications WHERE status = 'pending'),
		(SELECT count(*) FROM (SELECT 1 FROM commissions WHERE state IN ('pending', 'partially_voided') LIMIT 10001) x),
		(SELECT count(*) FROM payouts WHERE status = 'requested'),
		(SELECT count(*) FROM store_credit_requests WHERE status = 'requested')`).Scan(
		&c.Partners, &c.Applications, &c.PendingCommissions, &c.Payouts, &c.StoreCredits)
	if err != nil {
		return AdminCounts{}, fmt.Errorf("cannot read overview counts: %w", err)
	}
	return c, nil
}
