package settle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/testenv"
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

// FuzzSplitBatch: facts of any tab- and newline-free keys and payloads
// come back from factBatch's bytes one by one, in order; any other bytes
// either split into messages that join back into them or are refused,
// never a panic.
func FuzzSplitBatch(f *testing.F) {
	f.Add("7", []byte(`{"event_id":"e1"}`), "8", []byte(`{}`), []byte("7\t{}\n"))
	f.Add("", []byte{}, "9", []byte("x y"), []byte("\t\n"))
	f.Add("1", []byte("a"), "2", []byte("b"), []byte("7\t{}"))
	f.Fuzz(func(t *testing.T, k1 string, v1 []byte, k2 string, v2 []byte, raw []byte) {
		if !strings.ContainsAny(k1+k2, "\t\n") && !bytes.ContainsAny(append(slices.Clone(v1), v2...), "\t\n") {
			facts := []fact{{eventID: "e1", key: k1, payload: v1}, {eventID: "e2", key: k2, payload: v2}}
			_, lines := factBatch(facts)
			ms, err := splitBatch("commissions", lines)
			if err != nil || len(ms) != 2 {
				t.Fatalf("split %q: %d messages, %v", lines, len(ms), err)
			}
			for i, m := range ms {
				if m.Key != facts[i].key || string(m.Payload) != string(facts[i].payload) {
					t.Fatalf("message %d is %q %q, want %q %q", i, m.Key, m.Payload, facts[i].key, facts[i].payload)
				}
			}
		}
		ms, err := splitBatch("commissions", raw)
		if err != nil {
			return
		}
		var joined []byte
		for _, m := range ms {
			joined = append(append(append(append(joined, m.Key...), '\t'), m.Payload...), '\n')
		}
		if string(joined) != string(raw) {
			t.Fatalf("%q split into %d messages that join into %q", raw, len(ms), joined)
		}
	})
}

// factBatch refuses a fact whose key or payload would split its line.
func TestFactBatchRefusesTabsAndNewlines(t *testing.T) {
	for _, f := range []fact{{eventID: "e1", key: "7\t", payload: []byte("{}")}, {eventID: "e2", key: "7", payload: []byte("{\n}")}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("factBatch took %q %q", f.key, f.payload)
				}
			}()
			factBatch([]fact{f})
		}()
	}
}

// The relay publishes every form of outbox row, in order: a single message,
// a batch as bytes (00370) and a batch as payload.messages (00320, written
// before the upgrade or by the previous release), and marks them published.
func TestRelayPublishesEveryOutboxForm(t *testing.T) {
	f := newFixture(t)
	env := testenv.Get(t)
	ctx := context.Background()
	f.exec(`INSERT INTO outbox (topic, event_id, key, payload) VALUES ('store_credits', 'sc-1', 'c1', '{"event_id": "sc-1", "n": 1}')`)
	f.exec(`INSERT INTO outbox (topic, event_id, key, payload, messages) VALUES ('commissions', 'old-batch', '',
'{"messages": [{"key": "7", "value": {"event_id": "f1", "n": 2}}, {"key": "8", "value": {"event_id": "f2", "n": 3}}]}', 2)`)
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		return flushFacts(ctx, tx, &batch{now: T0, facts: []fact{
			{eventID: "f3", key: "9", payload: []byte(`{"event_id":"f3","n":4}`)},
			{eventID: "f4", key: "7", payload: []byte(`{"event_id":"f4","n":5}`)},
		}})
	})
	if err != nil {
		t.Fatal(err)
	}
	w := NewOutboxWriter(env.KafkaBrokers())
	defer w.Close()
	prefix := env.TopicPrefix(t)
	if n, err := f.s.Relay(ctx, w, prefix, 100); err != nil || n != 5 {
		t.Fatalf("Relay = %d, %v; want 5 messages", n, err)
	}
	if n, err := f.s.Relay(ctx, w, prefix, 100); err != nil || n != 0 {
		t.Fatalf("second Relay = %d, %v; want 0", n, err)
	}
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`); n != 0 {
		t.Fatalf("%d outbox rows unpublished", n)
	}
	got := map[string][]string{}
	for topic, want := range map[string]int{"commissions": 4, "store_credits": 1} {
		for _, m := range testenv.ReadMessages(t, env.KafkaBrokers(), prefix+topic, want) {
			var v struct {
				EventID string `json:"event_id"`
				N       int    `json:"n"`
			}
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("message %q on %s: %v", m.Value, topic, err)
			}
			got[topic] = append(got[topic], fmt.Sprintf("%s:%s:%d", m.Key, v.EventID, v.N))
		}
		slices.Sort(got[topic])
	}
	want := map[string][]string{"commissions": {"7:f1:2", "7:f4:5", "8:f2:3", "9:f3:4"}, "store_credits": {"c1:sc-1:1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
}
