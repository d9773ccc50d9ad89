package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Announcement is a message from the admin to partners.
type Announcement struct {
	ID        int64
	Title     string
	Body      string
	Audience  string
	CreatedAt time.Time
	Read      bool // for one partner
	// RecipientCount and Recipients describe a "selected" audience in the
	// admin's list (Announcements): how many partners it went to and the
	// first ShownRecipients of them by id. Other lists leave them empty.
	RecipientCount int
	Recipients     []Recipient
	MoreRecipients int // RecipientCount less the ones in Recipients
}

// Recipient is a partner an announcement was addressed to.
type Recipient struct {
	ID   int64
	Name string
}

// MaxRecipients bounds the selected audience of one announcement.
const MaxRecipients = 10000

// ShownRecipients is how many recipients of one announcement the admin's
// list names; the rest are counted.
const ShownRecipients = 20

// shownUnknownIDs is how many unknown partner ids a refusal names.
const shownUnknownIDs = 20

// CreateAnnouncement stores an announcement to all partners (no ids) or to
// the listed partners. Every listed id must be a partner: unknown ids are
// refused, named in the error, and nothing is stored (a typo must not
// send the message to fewer partners than the admin meant). Repeated ids
// count once.
func (s *Storage) CreateAnnouncement(ctx context.Context, title, body string, partnerIDs []int64, adminID int64) (int64, error) {
	if len(partnerIDs) > MaxRecipients {
		return 0, &FieldError{Field: "partner_ids", Msg: fmt.Sprintf("at most %d", MaxRecipients)}
	}
	audience := "all"
	if len(partnerIDs) > 0 {
		audience = "selected"
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if len(partnerIDs) > 0 {
			rows, err := tx.Query(ctx, `SELECT DISTINCT x FROM unnest($1::bigint[]) x
				WHERE NOT EXISTS (SELECT 1 FROM partners p WHERE p.id = x) ORDER BY x`, partnerIDs)
			if err != nil {
				return fmt.Errorf("cannot check recipients: %w", err)
			}
			unknown, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("cannot check recipients: %w", err)
			}
			if len(unknown) > 0 {
				return &FieldError{Field: "partner_ids", Msg: unknownPartnersMsg(unknown)}
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO announcements (title, body, audience, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
			title, body, audience, nullID(adminID)).Scan(&id); err != nil {
			return fmt.Errorf("cannot insert announcement: %w", err)
		}
		if len(partnerIDs) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO announcement_recipients (announcement_id, partner_id)
			SELECT $1, id FROM partners WHERE id = ANY($2)`, id, partnerIDs); err != nil {
			return fmt.Errorf("cannot insert recipients: %w", err)
		}
		return nil
	})
	return id, err
}

// unknownPartnersMsg names the unknown ids (the first shownUnknownIDs of
// them, and how many more).
func unknownPartnersMsg(ids []int64) string {
	var b strings.Builder
	if len(ids) == 1 {
		b.WriteString("no such partner: ")
	} else {
		b.WriteString("no such partners: ")
	}
	for i, x := range ids[:min(len(ids), shownUnknownIDs)] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(x, 10))
	}
	if n := len(ids) - shownUnknownIDs; n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	b.WriteString(" (nothing was sent)")
	return b.String()
}

// Announcements lists every announcement, newest first (admin), with the
// recipients of a "selected" one: their number and the first
// ShownRecipients of them (id and name).
func (s *Storage) Announcements(ctx context.Context, pg Page) ([]Announcement, bool, error) {
	pg = pg.Normalize()
	// The page is cut first, so that the recipients are read for its rows
	// only (through the recipients' primary key).
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.title, a.body, a.audience, a.created_at,
		(SELECT count(*) FROM announcement_recipients r WHERE r.announcement_id = a.id),
		coalesce(x.ids, '{}'), coalesce(x.names, '{}')
		FROM (SELECT id, title, body, audience, created_at FROM announcements
			ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2) a
		LEFT JOIN LATERAL (SELECT array_agg(p.id ORDER BY p.id) AS ids, array_agg(p.name ORDER BY p.id) AS names
			FROM (SELECT partner_id FROM announcement_recipients r WHERE r.announcement_id = a.id
				ORDER BY partner_id LIMIT $3) f JOIN partners p ON p.id = f.partner_id) x ON true
		ORDER BY a.created_at DESC, a.id DESC`, pg.Size+1, pg.Offset(), ShownRecipients)
	if err != nil {
		return nil, false, fmt.Errorf("cannot list announcements: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (Announcement, error) {
		var a Announcement
		var ids []int64
		var names []string
		if err := r.Scan(&a.ID, &a.Title, &a.Body, &a.Audience, &a.CreatedAt, &a.RecipientCount, &ids, &names); err != nil {
			return Announcement{}, fmt.Errorf("cannot read announcement: %w", err)
		}
		for i := range min(len(ids), len(names)) {
			a.Recipients = append(a.Recipients, Recipient{ID: ids[i], Name: names[i]})
		}
		a.MoreRecipients = max(a.RecipientCount-len(a.Recipients), 0)
		return a, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

func scanAnnouncement(r pgx.Row) (Announcement, error) {
	var a Announcement
	if err := r.Scan(&a.ID, &a.Title, &a.Body, &a.Audience, &a.CreatedAt, &a.Read); err != nil {
		return Announcement{}, fmt.Errorf("cannot read announcement: %w", err)
	}
	return a, nil
}

const partnerAnnouncementWhere = ` WHERE (a.audience = 'all' OR EXISTS (SELECT 1 FROM announcement_recipients r
	WHERE r.announcement_id = a.id AND r.partner_id = $1))`

// PartnerAnnouncements lists the announcements addressed to a partner with
// their read mark.
func (s *Storage) PartnerAnnouncements(ctx context.Context, partnerID int64, pg Page) ([]Announcement, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.title, a.body, a.audience, a.created_at,
		EXISTS (SELECT 1 FROM announcement_reads x WHERE x.partner_id = $1 AND x.announcement_id = a.id)
		FROM announcements a`+partnerAnnouncementWhere+`
		ORDER BY a.created_at DESC, a.id DESC LIMIT $2 OFFSET $3`, partnerID, pg.Size+1, pg.Offset())
	if err != nil {
		return nil, false, fmt.Errorf("cannot list announcements: %w", err)
	}
	out, err := collect(rows, scanAnnouncement)
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}

// UnreadAnnouncements counts a partner's unread announcements.
func (s *Storage) UnreadAnnouncements(ctx context.Context, partnerID int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM announcements a`+partnerAnnouncementWhere+`
		AND NOT EXISTS (SELECT 1 FROM announcement_reads x WHERE x.partner_id = $1 AND x.announcement_id = a.id)`, partnerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("cannot count unread announcements: %w", err)
	}
	return n, nil
}

// MarkAnnouncementRead marks an announcement read for a partner; one not
// addressed to the partner is ErrNotFound.
func (s *Storage) MarkAnnouncementRead(ctx context.Context, partnerID, id int64) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO announcement_reads (announcement_id, partner_id)
		SELECT a.id, $1 FROM announcements a`+partnerAnnouncementWhere+` AND a.id = $2
		ON CONFLICT DO NOTHING`, partnerID, id)
	if err != nil {
		return fmt.Errorf("cannot mark announcement read: %w", err)
	}
	if tag.RowsAffected() == 0 {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM announcements a`+partnerAnnouncementWhere+` AND a.id = $2)`,
			partnerID, id).Scan(&ok); err != nil {
			return fmt.Errorf("cannot check announcement: %w", err)
		}
		if !ok {
			return ErrNotFound
		}
	}
	return nil
}

// SettlementRun is one settler job run.
type SettlementRun struct {
	ID         int64
	Job        string
	Host       string
	StartedAt  time.Time
	FinishedAt *time.Time
	Counts     map[string]any
	Error      string
}

// RunFilter narrows the settlement runs listed: Job is a job's name
// ("" for every job), Failed keeps the runs that ended with an error.
type RunFilter struct {
	Job    string
	Failed bool
}

// SettlementRuns lists job runs, newest first. The relay job alone records
// a run every few seconds (two replicas take turns), so a failed settle
// run is soon pages back without the filter.
func (s *Storage) SettlementRuns(ctx context.Context, f RunFilter, pg Page) ([]SettlementRun, bool, error) {
	pg = pg.Normalize()
	rows, err := s.pool.Query(ctx, `SELECT id, job, host, started_at, finished_at, counts, coalesce(error, '')
		FROM settlement_runs WHERE ($3 = '' OR job = $3) AND (NOT $4 OR error IS NOT NULL)
		ORDER BY started_at DESC, id DESC LIMIT $1 OFFSET $2`, pg.Size+1, pg.Offset(), f.Job, f.Failed)
	if err != nil {
		return nil, false, fmt.Errorf("cannot list settlement runs: %w", err)
	}
	out, err := collect(rows, func(r pgx.Row) (SettlementRun, error) {
		var x SettlementRun
		if err := r.Scan(&x.ID, &x.Job, &x.Host, &x.StartedAt, &x.FinishedAt, &x.Counts, &x.Error); err != nil {
			return SettlementRun{}, fmt.Errorf("cannot read settlement run: %w", err)
		}
		return x, nil
	})
	if err != nil {
		return nil, false, err
	}
	return trimPage(out, pg)
}
