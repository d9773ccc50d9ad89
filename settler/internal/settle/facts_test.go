package settle

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// A commission fact already in the outbox (enqueued by an earlier attempt
// of the same change) makes the batch's COPY fail; the batch falls back to
// the insert that skips it and settles as usual.
func TestFactAlreadyEnqueuedIsSkipped(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	first := uuid.NewSHA1(factNamespace, []byte("accrue:o1/l1/1")).String()
	f.exec(`INSERT INTO outbox (topic, event_id, key, payload) VALUES ('commissions', $1, 'k', '{"earlier": true}')`, first)
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"), line("l2", "y", 1, "50.00"))
	if got := f.commissions("o1"); got != "l1:1:1000:pending:0:0 l2:1:500:pending:0:0" {
		t.Fatalf("commissions %q", got)
	}
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox WHERE topic = 'commissions'`); n != 2 {
		t.Fatalf("%d commission facts in the outbox, want 2 (the earlier one kept, the second added)", n)
	}
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox WHERE event_id = $1 AND payload ? 'earlier'`, first); n != 1 {
		t.Fatal("the fact already enqueued was replaced")
	}
	// Without a repeat, the facts go in by COPY.
	f.attributedOrder(p, "o2", T0.Add(time.Hour), line("l1", "x", 1, "10.00"))
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox WHERE topic = 'commissions'`); n != 3 {
		t.Fatalf("%d commission facts in the outbox, want 3", n)
	}
}
