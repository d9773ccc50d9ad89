package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/events"
)

// Link is a generated tracking link /r/{code}.
type Link struct {
	ID         int64
	Code       string
	PartnerID  int64
	Kind       string // link or deep
	TargetURL  string
	ProductID  string
	CategoryID string
	Active     bool
	// OffByAdmin: the admin turned the link off; only the admin turns it
	// on again.
	OffByAdmin bool
	CreatedAt  time.Time
}

const linkColumns = `id, code, partner_id, kind, target_url, coalesce(product_id, ''), coalesce(category_id, ''), active, off_by_admin, created_at`

func scanLink(row pgx.Row) (Link, error) {
	var l Link
	err := row.Scan(&l.ID, &l.Code, &l.PartnerID, &l.Kind, &l.TargetURL, &l.ProductID, &l.CategoryID, &l.Active, &l.OffByAdmin, &l.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Link{}, ErrNotFound
	}
	if err != nil {
		return Link{}, fmt.Errorf("cannot read link: %w", err)
	}
	return l, nil
}

const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

// newCode returns a random 10-character link code (about 58 bits).
func newCode() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b[:])
}

// MaxActiveLinksPerPartner caps a partner's active links: every tracker
// keeps every active link in memory, so one partner must not be able to
// grow that without bound. It holds for links the admin creates for a
// partner too (they cost the trackers the same). A variable only so that
// tests can lower it.
var MaxActiveLinksPerPartner = 10000

// CreateLink returns the partner's active link to l.TargetURL, creating it
// when missing (so generating the same link twice is idempotent), and
// notifies the tracker on links_changed in the same transaction. A new
// link beyond MaxActiveLinksPerPartner is a conflict on field url.
func (s *Storage) CreateLink(ctx context.Context, l Link, createdBy int64) (Link, bool, error) {
	// Every click of the link carries these ids; one the click event refuses
	// would be left out of them (the tracker drops it), so it is refused here.
	for _, f := range []struct{ name, v string }{{"product_id", l.ProductID}, {"category_id", l.CategoryID}} {
		var fe *events.FieldError
		if err := events.CheckOptionalID(f.name, f.v); errors.As(err, &fe) {
			return Link{}, false, &FieldError{Field: fe.Field, Msg: fe.Msg}
		}
	}
	var out Link
	created := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		active, err := lockPartnerLinks(ctx, tx, l.PartnerID)
		if err != nil {
			return err
		}
		out, err = scanLink(tx.QueryRow(ctx, `SELECT `+linkColumns+` FROM links
			WHERE partner_id = $1 AND target_url = $2 AND active`, l.PartnerID, l.TargetURL))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if active >= MaxActiveLinksPerPartner {
			return &FieldError{Field: "url", Msg: fmt.Sprintf("cannot get a new link: the partner has %d active links, the most allowed; deactivate unused ones first",
				MaxActiveLinksPerPartner), Err: ErrConflict}
		}
		var by any
		if createdBy > 0 {
			by = createdBy
		}
		for range 5 { // a code collision is rare; bounded retries
			out, err = scanLink(tx.QueryRow(ctx, `INSERT INTO links (code, partner_id, kind, target_url, product_id, category_id, created_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (code) DO NOTHING RETURNING `+linkColumns,
				newCode(), l.PartnerID, l.Kind, l.TargetURL, nullStr(l.ProductID), nullStr(l.CategoryID), by))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return uniqueViolation(err, map[string]string{"links_partner_target": "url", "partner_id": "partner_id"})
			}
			created = true
			_, err = tx.Exec(ctx, `SELECT pg_notify('links_changed', $1)`, out.Code)
			return err
		}
		return errors.New("cannot find a free link code")
	})
	return out, created, err
}

// lockPartnerLinks locks the partner row until the transaction ends, so
// that link creations for one partner run one after the other (the count
// and the existing-link lookup cannot race), and returns how many active
// links the partner has.
func lockPartnerLinks(ctx context.Context, tx pgx.Tx, partnerID int64) (int, error) {
	_, err := tx.Exec(ctx, `SELECT 1 FROM partners WHERE id = $1 FOR NO KEY UPDATE`, partnerID)
	if err != nil {
		return 0, fmt.Errorf("cannot lock partner: %w", err)
	}
	// A statement of its own: its snapshot, taken after the lock was
	// granted, sees the links of the creation that held it.
	var n int
	var found bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1),
		(SELECT count(*) FROM links WHERE partner_id = $1 AND active)`, partnerID).Scan(&found, &n); err != nil {
		return 0, fmt.Errorf("cannot count links: %w", err)
	}
	if !found {
		return 0, &FieldError{Field: "partner_id", Msg: "no such partner", Err: ErrNotFound}
	}
	return n, nil
}

// Links lists a partner's active links, newest first.
func (s *Storage) Links(ctx context.Context, partnerID int64, pg Page) ([]Link, bool, error) {
	return s.linksWhere(ctx, partnerID, pg, "AND active")
}

// AllLinks lists a partner's links, on and off, newest first (the admin's
// partner page).
func (s *Storage) AllLinks(ctx context.Context, partnerID int64, pg Page) ([]Link, bool, error) {
	return s.linksWhere(ctx, partnerID, pg, "")
}

// InactiveLinks lists a partner's turned-off links, newest first, so that
// the partner can turn one on again.
func (s *Storage) InactiveLinks(ctx context.Context, partnerID int64, pg Page) ([]Link, bool, error) {
	return s.linksWhere(ctx, partnerID, pg, "AND NOT active")
}

// linksWhere lists a partner's links matching cond (a constant SQL
// condition), newest first.
func (s *Storage) linksWhere(ctx context.Context, partnerID int64, pg Page, cond string) ([]Link, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT `+linkColumns+` FROM links WHERE partner_id = $1 `+cond+`
		ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, partnerID, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list links: %w", err)
	}
	out, err := collect(rows, scanLink)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// LinkOf reads a link that must belong to partnerID (ErrNotFound otherwise).
func (s *Storage) LinkOf(ctx context.Context, partnerID, linkID int64) (Link, error) {
	return scanLink(s.pool.QueryRow(ctx, `SELECT `+linkColumns+` FROM links WHERE id = $1 AND partner_id = $2`, linkID, partnerID))
}

// DeactivateLink turns off a partner's link. byAdmin marks it as turned off
// by the admin (also a link the partner had turned off already), which only
// the admin turns on again; the admin's repeat (a double click, a stale
// page, two admins) changes nothing and is no error.
func (s *Storage) DeactivateLink(ctx context.Context, partnerID, linkID int64, byAdmin bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var code string
		err := tx.QueryRow(ctx, `UPDATE links SET active = false, off_by_admin = off_by_admin OR $3, updated_at = now()
			WHERE id = $1 AND partner_id = $2 AND (active OR ($3 AND NOT off_by_admin)) RETURNING code`, linkID, partnerID, byAdmin).Scan(&code)
		if errors.Is(err, pgx.ErrNoRows) {
			if byAdmin {
				var off bool
				err := tx.QueryRow(ctx, `SELECT NOT active AND off_by_admin FROM links WHERE id = $1 AND partner_id = $2`, linkID, partnerID).Scan(&off)
				if err == nil && off {
					return nil
				}
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("cannot read link: %w", err)
				}
			}
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("cannot deactivate link: %w", err)
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('links_changed', $1)`, code)
		return err
	})
}

// ActivateLink turns a partner's turned-off link on again (its code, and
// every copy of it already shared, credits the partner again) and notifies
// the tracker on links_changed in the same transaction. An already active
// link is returned as it is. Another partner's link id is ErrNotFound. Like
// CreateLink it respects MaxActiveLinksPerPartner, and since a partner has
// one active link per target, another active link of the partner to the
// same target refuses it too: conflicts on url (on active for the admin).
// A link the admin turned off is a conflict on link unless byAdmin, which
// clears the mark.
func (s *Storage) ActivateLink(ctx context.Context, partnerID, linkID int64, byAdmin bool) (Link, error) {
	var out Link
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		active, err := lockPartnerLinks(ctx, tx, partnerID)
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		// Locked: an admin's turn-off committing meanwhile is seen here
		// (read unlocked, the partner's turn-on overwrote it).
		out, err = scanLink(tx.QueryRow(ctx, `SELECT `+linkColumns+` FROM links WHERE id = $1 AND partner_id = $2 FOR UPDATE`, linkID, partnerID))
		if err != nil || out.Active {
			return err
		}
		if out.OffByAdmin && !byAdmin {
			return &FieldError{Field: "link", Msg: "turned off by the program's admin, who alone can turn it on again; ask them, or generate a new link",
				Err: ErrConflict}
		}
		var other string
		err = tx.QueryRow(ctx, `SELECT code FROM links WHERE partner_id = $1 AND target_url = $2 AND active`,
			partnerID, out.TargetURL).Scan(&other)
		// The admin's turn-on is refused on field active, in the admin's
		// words; the partner's on url, as a new link would be.
		field, yours := "url", "your active link "
		if byAdmin {
			field, yours = "active", "the partner's active link "
		}
		if err == nil {
			return &FieldError{Field: field, Msg: "cannot turn this link on: " + yours + other +
				" goes to the same page (turn that one off first)", Err: ErrConflict}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("cannot look up links: %w", err)
		}
		if active >= MaxActiveLinksPerPartner {
			return &FieldError{Field: field, Msg: fmt.Sprintf("cannot turn the link on: the partner has %d active links, the most allowed; deactivate unused ones first",
				MaxActiveLinksPerPartner), Err: ErrConflict}
		}
		out, err = scanLink(tx.QueryRow(ctx, `UPDATE links SET active = true, off_by_admin = false, updated_at = now()
			WHERE id = $1 AND partner_id = $2 RETURNING `+linkColumns, linkID, partnerID))
		if err != nil {
			return uniqueViolation(err, map[string]string{"links_partner_target": "url"})
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify('links_changed', $1)`, out.Code)
		return err
	})
	return out, err
}
