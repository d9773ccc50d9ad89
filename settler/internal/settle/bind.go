package settle

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/attribution"
)

type identityRow struct {
	EventID, DeviceToken, CustomerID string
	At                               time.Time
}

// bindBatch evaluates the binding rule for one batch of identity events
// whose time the sink watermark wm has passed (or that waited MaxWait): the
// customer is bound to the partner of the device's last click within the
// binding window before the identity, unless already bound.
func (s *Settler) bindBatch(ctx context.Context, now, wm time.Time) (Counts, error) {
	var c Counts
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c = Counts{}
		prog, err := loadProgram(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT event_id, device_token, customer_id, at FROM identities
WHERE processed_at IS NULL AND (at <= $1 OR received_at <= $2)
ORDER BY at, event_id LIMIT $3 FOR UPDATE SKIP LOCKED`, wm, now.Add(-s.opts.MaxWait), s.opts.BatchSize)
		if err != nil {
			return fmt.Errorf("cannot read identities: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowToStructByPos[identityRow])
		if err != nil {
			return fmt.Errorf("cannot read identities: %w", err)
		}
		c.Identities = len(ids)
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			if id.At.After(wm) {
				c.IdentitiesForced++ // decided after MaxWait: a later click was not seen
			}
		}
		qs := make([]attribution.Query, len(ids))
		eventIDs := make([]string, len(ids))
		for i, id := range ids {
			qs[i] = attribution.Query{DeviceToken: id.DeviceToken, At: id.At}
			eventIDs[i] = id.EventID
		}
		res, err := attribution.Lookup(ctx, s.ch, s.opts.ClickHouseDB, qs, prog.BindingWindow, attribution.LastClick)
		if err != nil {
			return err
		}
		partners, err := loadPartners(ctx, tx)
		if err != nil {
			return err
		}
		// In time order, so the earliest qualifying identity binds first.
		// "Only if unbound", from the identity's time on: no binding of the
		// customer was alive at or after it, open or since detached (an
		// identity that waited for the watermark while the admin detached
		// the customer from the partner it was bound to then, or attached
		// it elsewhere and detached it again, must not bind it across that,
		// taking those orders); the open-binding unique index covers the
		// rest. A binding starts no later than now: an identity from a
		// shop whose clock is ahead would otherwise bind from the future
		// (applying to no order yet, blocking every other binding, and
		// refusing a detach before its start).
		for i, id := range ids {
			pid, ok := partnerOf(res[i], partners)
			if !ok || partners[pid].suspended {
				continue
			}
			tag, err := tx.Exec(ctx, `INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at, identity_event_id, click_id)
SELECT $1, $2, 'identity', LEAST($3::timestamptz, $6::timestamptz), $4, $5
WHERE NOT EXISTS (SELECT 1 FROM customer_bindings b WHERE b.customer_id = $1
    AND (b.detached_at IS NULL OR b.detached_at > LEAST($3::timestamptz, $6::timestamptz)))
ON CONFLICT (customer_id) WHERE detached_at IS NULL DO NOTHING`, id.CustomerID, pid, id.At, id.EventID, clickUUID(res[i].ClickID), now)
			if err != nil {
				return fmt.Errorf("cannot insert customer binding: %w", err)
			}
			c.Bindings += int(tag.RowsAffected())
		}
		if _, err := tx.Exec(ctx, `UPDATE identities SET processed_at = $2 WHERE event_id = ANY($1)`, eventIDs, now); err != nil {
			return fmt.Errorf("cannot mark identities processed: %w", err)
		}
		return nil
	})
	return c, err
}

// partnerInfo is what a pass needs of a partner.
type partnerInfo struct {
	customerID string
	rate       *int64 // default_rate_upct
	// suspended: the partner earns nothing new (no binding, no attribution
	// by binding or device) until made active again; an admin's override
	// to it still holds, being the admin's explicit choice.
	suspended bool
}

func loadPartners(ctx context.Context, tx pgx.Tx) (map[int64]partnerInfo, error) {
	rows, err := tx.Query(ctx, `SELECT id, COALESCE(customer_id, ''), default_rate_upct, status = 'suspended' FROM partners`)
	if err != nil {
		return nil, fmt.Errorf("cannot read partners: %w", err)
	}
	out := map[int64]partnerInfo{}
	var (
		id   int64
		info partnerInfo
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &info.customerID, &info.rate, &info.suspended}, func() error {
		out[id] = info
		info = partnerInfo{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read partners: %w", err)
	}
	return out, nil
}

// partnerOf returns the partner of a device lookup result when it names a
// known partner.
func partnerOf(r attribution.Result, partners map[int64]partnerInfo) (int64, bool) {
	if !r.Found {
		return 0, false
	}
	id, err := strconv.ParseInt(r.PartnerID, 10, 64)
	if err != nil {
		return 0, false
	}
	_, ok := partners[id]
	return id, ok
}

// clickUUID returns the click id as a uuid for Postgres, or nil when it is
// not one.
func clickUUID(s string) any {
	u, err := uuid.Parse(s)
	if err != nil {
		return nil
	}
	return u
}
