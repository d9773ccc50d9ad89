package settle

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/pkg/testenv"
)

// Strings with a quote or a backslash (pkg/events allows both in ids) are
// escaped in JSON; the relay publishes such outbox rows as they are, in
// every outbox form, and a row of them does not hold up the rows after it.
// The relay once read payloads through payload::text::bytea, whose input
// parser takes backslashes for escapes: `\"` failed the whole read (every
// later row stuck behind the bad one) and `\\` lost a backslash.
func TestRelayKeepsQuotesAndBackslashes(t *testing.T) {
	f := newFixture(t)
	env := testenv.Get(t)
	ctx := context.Background()
	eur, err := money.ParseCurrency("EUR")
	if err != nil {
		t.Fatal(err)
	}
	// Store-credit approvals as the dashboard enqueues them (jsonb payload,
	// dashboard/internal/storage/storecredit.go).
	var credits []events.StoreCredit
	for i, customer := range []string{`CORP\jdoe`, `a"b`, `\\"\`} {
		ev := events.StoreCredit{EventID: []string{
			"0190a1b2-0000-7000-8000-000000000001", "0190a1b2-0000-7000-8000-000000000002", "0190a1b2-0000-7000-8000-000000000003",
		}[i], At: T0, RequestID: "r" + string(rune('1'+i)), PartnerID: "7", CustomerID: customer, Currency: eur, AmountMinor: 1000}
		credits = append(credits, ev)
		f.exec(`INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', $1, $2, $3)`,
			ev.EventID, ev.CustomerID, string(events.AppendStoreCredit(nil, &ev)))
	}
	// A batch in the form before migration 00370 (payload.messages) with
	// such a string, and a settlement batch as bytes after them.
	f.exec(`INSERT INTO outbox (topic, event_id, key, payload, messages) VALUES ('commissions', 'old-batch', '',
'{"messages": [{"key": "7", "value": {"event_id": "f1", "order_id": "o\\1\"x"}}]}', 1)`)
	batchFact := []byte(`{"event_id":"f2","order_id":"o\\2\"y"}`)
	if err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		return flushFacts(ctx, tx, &batch{now: T0, facts: []fact{{eventID: "f2", key: "8", payload: batchFact}}})
	}); err != nil {
		t.Fatal(err)
	}

	w := NewOutboxWriter(env.KafkaBrokers())
	defer w.Close()
	prefix := env.TopicPrefix(t)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if n, err := f.s.Relay(rctx, w, prefix, 100); err != nil || n != 5 {
		t.Fatalf("Relay = %d, %v; want 5 messages", n, err)
	}
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`); n != 0 {
		t.Fatalf("%d outbox rows unpublished", n)
	}

	// Store credits: the bytes are jsonb's text of the row (what
	// outbox_messages shows) and decode to the event the dashboard wrote.
	want := map[string]string{}
	rows, err := f.pool.Query(ctx, `SELECT event_id, payload::text FROM outbox WHERE topic = 'store_credits'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			t.Fatal(err)
		}
		want[id] = text
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range testenv.ReadMessages(t, env.KafkaBrokers(), prefix+"store_credits", len(credits)) {
		got, err := events.DecodeStoreCredit(m.Value)
		if err != nil {
			t.Fatalf("store credit message %q: %v", m.Value, err)
		}
		i := slices.IndexFunc(credits, func(c events.StoreCredit) bool { return c.EventID == got.EventID })
		if i < 0 || got.CustomerID != credits[i].CustomerID || got.RequestID != credits[i].RequestID || !got.At.Equal(T0) {
			t.Fatalf("published store credit %+v, want one of %+v", got, credits)
		}
		if string(m.Value) != want[got.EventID] || string(m.Key) != credits[i].CustomerID {
			t.Fatalf("published %q (key %q), want the outbox's %q (key %q)", m.Value, m.Key, want[got.EventID], credits[i].CustomerID)
		}
	}

	// Commission facts: the old form's value as jsonb gives it, the bytes
	// form byte for byte.
	got := map[string]string{}
	for _, m := range testenv.ReadMessages(t, env.KafkaBrokers(), prefix+"commissions", 2) {
		var v struct {
			EventID string `json:"event_id"`
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("commission message %q: %v", m.Value, err)
		}
		got[v.EventID] = string(m.Key) + " " + v.OrderID + " " + string(m.Value)
	}
	wantFacts := map[string]string{
		"f1": `7 o\1"x {"event_id": "f1", "order_id": "o\\1\"x"}`,
		"f2": `8 o\2"y ` + string(batchFact),
	}
	if !maps.Equal(got, wantFacts) {
		t.Fatalf("published facts %q, want %q", got, wantFacts)
	}
}
