package settle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// A settlement batch enqueues its commission facts as one outbox row
// (migration 00320); outbox_messages lists them one by one with their
// Kafka keys (the partner) and event ids (from the ledger keys).
func TestFactsEnqueuedAsOneRow(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"), line("l2", "y", 1, "50.00"))
	if got := queryOne[string](t, f.pool, `SELECT count(*) || ' row, ' || sum(messages) || ' messages' FROM outbox WHERE topic = 'commissions'`); got != "1 row, 2 messages" {
		t.Fatalf("outbox holds %s, want 1 row, 2 messages", got)
	}
	want := fmt.Sprintf("%d %s o1/l1/1 10.00 pending | %d %s o1/l2/1 5.00 pending", p,
		uuid.NewSHA1(factNamespace, []byte("accrue:o1/l1/1")), p, uuid.NewSHA1(factNamespace, []byte("accrue:o1/l2/1")))
	got := queryOne[string](t, f.pool, `SELECT string_agg(concat_ws(' ', key, event_id, payload->>'commission_id', payload->>'amount', payload->>'state'), ' | ' ORDER BY n)
FROM outbox_messages WHERE topic = 'commissions'`)
	if got != want {
		t.Fatalf("outbox messages\n%s\nwant\n%s", got, want)
	}

	// A second batch is a second row.
	f.attributedOrder(p, "o2", T0.Add(time.Hour), line("l1", "x", 1, "10.00"))
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox_messages WHERE topic = 'commissions'`); n != 3 {
		t.Fatalf("%d commission facts in the outbox, want 3", n)
	}
}

// The same facts enqueued again (a batch repeated) are the same outbox row:
// skipped, not a second copy and not an error. Other facts are a new row.
func TestFactBatchRepeatIsSkipped(t *testing.T) {
	f := newFixture(t)
	facts := []fact{
		{eventID: "e1", key: "7", payload: []byte(`{"event_id":"e1","n":1}`)},
		{eventID: "e2", key: "8", payload: []byte(`{"event_id":"e2","n":2}`)},
	}
	for _, fs := range [][]fact{facts, facts, facts[:1]} {
		err := pgx.BeginFunc(context.Background(), f.pool, func(tx pgx.Tx) error {
			return flushFacts(context.Background(), tx, &batch{now: T0, facts: fs})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := queryOne[string](t, f.pool, `SELECT string_agg(concat_ws(':', outbox_id, n, key, event_id, payload::text), ' ' ORDER BY outbox_id, n) FROM outbox_messages`)
	ids := queryOne[[]int64](t, f.pool, `SELECT array_agg(id ORDER BY id) FROM outbox`)
	if len(ids) != 2 {
		t.Fatalf("outbox rows %v, want 2", ids)
	}
	want := fmt.Sprintf(`%[1]d:1:7:e1:{"n": 1, "event_id": "e1"} %[1]d:2:8:e2:{"n": 2, "event_id": "e2"} %[2]d:1:7:e1:{"n": 1, "event_id": "e1"}`, ids[0], ids[1])
	if got != want {
		t.Fatalf("outbox messages\n%s\nwant\n%s", got, want)
	}
}

// factBatch's lines split back into the facts' keys and payloads, in order;
// splitBatch refuses a line without its tab or newline.
func TestSplitBatch(t *testing.T) {
	facts := []fact{
		{eventID: "e1", key: "7", payload: []byte(`{"event_id":"e1","note":"a\tb\nc"}`)},
		{eventID: "e2", key: "", payload: []byte(`{}`)},
	}
	_, lines := factBatch(facts)
	ms, err := splitBatch("commissions", lines)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Key != "7" || string(ms[0].Payload) != string(facts[0].payload) || ms[1].Key != "" ||
		string(ms[1].Payload) != "{}" || ms[1].Topic != "commissions" {
		t.Fatalf("split %q into %+v", lines, ms)
	}
	for _, bad := range []string{"7\t{}", "7{}\n", "7\t{}\n8\n"} {
		if ms, err := splitBatch("commissions", []byte(bad)); err == nil {
			t.Errorf("split %q into %+v, want an error", bad, ms)
		}
	}
}

// FuzzSplitBatch: any bytes either split into messages that join back into
// them, or are refused; never a panic.
func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte("7\t{\"event_id\":\"e1\"}\n8\t{}\n"))
	f.Add([]byte("\t\n"))
	f.Add([]byte("7\t{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := splitBatch("commissions", b)
		if err != nil {
			return
		}
		var joined []byte
		for _, m := range ms {
			joined = append(append(append(append(joined, m.Key...), '\t'), m.Payload...), '\n')
		}
		if string(joined) != string(b) {
			t.Fatalf("%q split into %d messages that join into %q", b, len(ms), joined)
		}
	})
}
