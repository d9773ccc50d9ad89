package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"

	"github.com/openaff/affiliate/pkg/money"
)

// Settled is what the settler has made of the events so far.
type Settled struct {
	Orders, Attributed          int64 // orders known, orders credited to a partner
	Pending, Approved           int64 // commissions waiting for approval, approved
	PendingMinor, ApprovedMinor int64 // what they are worth now (after voids and claw-backs)
}

// settledSQL reads the settled figures from the settler's tables
// (pkg/migrate/postgres 00005, 00006).
const settledSQL = `SELECT
	(SELECT count(*) FROM orders),
	(SELECT count(*) FROM attributions WHERE superseded_at IS NULL AND partner_id IS NOT NULL),
	count(*) FILTER (WHERE approved_at IS NULL AND state <> 'voided'),
	coalesce(sum(amount_minor - voided_amount_minor) FILTER (WHERE approved_at IS NULL), 0),
	count(*) FILTER (WHERE approved_at IS NOT NULL),
	coalesce(sum(amount_minor - voided_amount_minor - clawed_back_amount_minor) FILTER (WHERE approved_at IS NOT NULL), 0)
FROM commissions`

// PostgresSettled returns a function reading Settled from the ledger's
// Postgres, and a function closing its pool.
func PostgresSettled(ctx context.Context, url string) (func(context.Context) (Settled, error), func(), error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse the postgres URL: %w", err)
	}
	pc.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open postgres: %w", err)
	}
	read := func(ctx context.Context) (Settled, error) {
		var s Settled
		err := pool.QueryRow(ctx, settledSQL).Scan(&s.Orders, &s.Attributed, &s.Pending, &s.PendingMinor, &s.Approved, &s.ApprovedMinor)
		if err != nil {
			return s, fmt.Errorf("cannot read settled commissions: %w", err)
		}
		return s, nil
	}
	return read, pool.Close, nil
}

// Line renders one progress line.
func Line(c Counts, s *Settled, cur money.Currency) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sent: %d clicks (%d bots) %d logins %d orders (%d via Kafka) %d delivered %d cancelled %d refunds",
		c.Elapsed.Round(time.Second), c.Clicks, c.BotClicks, c.Logins, c.Orders, c.OrdersViaKafka, c.Delivered, c.Cancelled, c.Refunds)
	if c.Errors > 0 {
		fmt.Fprintf(&b, " %d errors", c.Errors)
	}
	if s != nil {
		fmt.Fprintf(&b, " | settled: %d orders, %d credited, %d pending %s, %d approved %s %s",
			s.Orders, s.Attributed, s.Pending, money.Format(cur, s.PendingMinor), s.Approved, money.Format(cur, s.ApprovedMinor), cur.Code())
	}
	return b.String()
}

// fit cuts s to width columns (bytes: the line is ASCII), marking the cut.
func fit(s string, width int) string {
	if width <= 1 || len(s) < width {
		return s
	}
	return s[:width-2] + "~"
}

// termWidth is the width of the terminal w, or 0 when unknown.
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// IsTerminal reports whether w is a character device (a TTY), where the
// progress line is rewritten in place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Progress writes the progress line to w until ctx ends: every second,
// rewritten in place, on a terminal; every plainEvery as plain lines
// otherwise. settled may be nil. It writes a last plain line at the end.
func Progress(ctx context.Context, w io.Writer, r *Runner, settled func(context.Context) (Settled, error), plainEvery time.Duration) {
	tty := IsTerminal(w)
	every := plainEvery
	if tty {
		every = time.Second
	}
	var last *Settled
	line := func() string {
		if settled != nil {
			// A failed read keeps the last figures: the line is a view, not a check.
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			if s, err := settled(qctx); err == nil {
				last = &s
			}
			cancel()
		}
		l := Line(r.Counts(), last, r.cfg.Currency)
		if tty {
			l = fit(l, termWidth(w))
		}
		return l
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintf(w, "\r\x1b[2K%s\n", line())
			} else {
				fmt.Fprintln(w, line())
			}
			return
		case <-tick.C:
			if tty {
				fmt.Fprintf(w, "\r\x1b[2K%s", line())
			} else {
				fmt.Fprintln(w, line())
			}
		}
	}
}
