package sink_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/openaff/affiliate/pkg/testenv"
)

// reportsDir holds the analyst reports (deploy/clickhouse/reports).
var reportsDir = filepath.Join("..", "..", "..", "deploy", "clickhouse", "reports")

type rClick struct {
	id, device, partner, link, product string
	at                                 time.Time
	bot                                bool
}

type rLine struct {
	id, product         string
	qty, unit, discount int64
}

type rOrder struct {
	eventID, typ, orderID, device, currency string
	at                                      time.Time
	lines                                   []rLine
}

type rFact struct {
	eventID, commissionID, orderID, lineID, partner, currency, state string
	at                                                               time.Time
	amount, base                                                     int64
}

// dataset is seeded report data with every row it inserted (replays
// included: the reports must not count them).
type dataset struct {
	today  time.Time
	clicks []rClick
	orders []rOrder
	facts  []rFact
}

func newDataset(seed uint64) *dataset {
	rng := rand.New(rand.NewPCG(seed, 99))
	d := &dataset{today: time.Now().UTC().Truncate(24 * time.Hour)}
	at := func(maxDaysAgo int) time.Time {
		return d.today.AddDate(0, 0, -rng.IntN(maxDaysAgo+1)).Add(time.Duration(rng.IntN(86400)) * time.Second)
	}
	for i := range 700 {
		c := rClick{
			id: fmt.Sprintf("c%04d", i), device: fmt.Sprintf("d%02d", rng.IntN(40)),
			partner: fmt.Sprintf("p%d", 1+rng.IntN(4)), link: fmt.Sprintf("l%d", rng.IntN(6)),
			product: fmt.Sprintf("prod%d", rng.IntN(5)), at: at(40), bot: rng.IntN(100) < 15,
		}
		if rng.IntN(20) == 0 {
			c.partner = "" // unknown code: no partner
		}
		d.clicks = append(d.clicks, c)
		if rng.IntN(10) == 0 {
			d.clicks = append(d.clicks, c) // replayed
		}
	}
	// Partial voids twice as often: most are approved later, some then
	// clawed back, and the refunds report must see each of those paths.
	states := []string{"approved", "voided", "partially_voided", "partially_voided", "clawed_back", "partially_clawed_back"}
	for i := range 90 {
		o := rOrder{eventID: fmt.Sprintf("oe%03d", i), typ: "order.placed", orderID: fmt.Sprintf("o%03d", i), currency: "EUR", at: at(34)}
		if rng.IntN(10) == 0 {
			o.currency = "USD"
		}
		if rng.IntN(10) != 0 {
			o.device = fmt.Sprintf("d%02d", rng.IntN(40))
		}
		for l := range 1 + rng.IntN(3) {
			o.lines = append(o.lines, rLine{id: fmt.Sprint(l + 1), product: fmt.Sprintf("prod%d", rng.IntN(6)),
				qty: int64(1 + rng.IntN(3)), unit: int64(500 + rng.IntN(4500)), discount: int64(rng.IntN(100))})
		}
		d.orders = append(d.orders, o)
		if rng.IntN(10) == 0 {
			d.orders = append(d.orders, o) // replayed
		}
		if rng.IntN(10) < 3 {
			continue // not attributed
		}
		partner := fmt.Sprintf("p%d", 1+rng.IntN(3))
		// An admin moves one order in eight to another partner after
		// settlement: the first decision's commissions are reversed and
		// the second's accrued, under ids ending in the version.
		moved := rng.IntN(8) == 0
		for _, l := range o.lines {
			base := l.unit*l.qty - l.discount
			cm := fmt.Sprintf("%s/%s/1", o.orderID, l.id)
			if moved {
				cm = fmt.Sprintf("%s/%s/9", o.orderID, l.id) // "9" > "10" as text
			}
			f := rFact{eventID: cm + "-0", commissionID: cm, orderID: o.orderID, lineID: l.id, partner: partner,
				currency: o.currency, state: "pending", at: o.at, amount: base / 10, base: base}
			d.facts = append(d.facts, f)
			if rng.IntN(10) == 0 {
				d.facts = append(d.facts, f) // replayed
			}
			if moved {
				r := f
				r.eventID, r.state, r.amount, r.at = cm+"-r", "voided", 0, f.at.Add(5*time.Hour)
				// Versions compare as numbers: 10 follows 9.
				cm2 := fmt.Sprintf("%s/%s/10", o.orderID, l.id)
				n := f
				n.eventID, n.commissionID, n.partner, n.at = cm2+"-0", cm2, "p4", r.at
				d.facts = append(d.facts, r, n)
				continue
			}
			if rng.IntN(2) == 0 {
				g := f
				g.eventID, g.state, g.at = cm+"-1", states[rng.IntN(len(states))], f.at.Add(time.Duration(1+rng.IntN(3))*time.Hour)
				if rng.IntN(4) == 0 {
					// In the same pass as the accrual: the same second.
					g.at = f.at
				}
				switch g.state {
				case "partially_voided", "partially_clawed_back":
					g.amount /= 2
				case "voided", "clawed_back":
					g.amount = 0
				}
				d.facts = append(d.facts, g)
				if next := successor[g.state]; next != "" && rng.IntN(3) == 0 {
					// The next change in the same second (one pass, or
					// two hosts' clocks), with a smaller event id: the
					// lifecycle, not the id, decides.
					h := g
					h.eventID, h.state, h.amount = cm+"-0b", next, 0
					d.facts = append(d.facts, h)
				} else if g.state == "partially_voided" && rng.IntN(4) != 0 {
					// Approved after the partial void, the normal path
					// (by an admin, or automatically after delivery),
					// keeping what is left: its current state no longer
					// says it was partly voided. Sometimes in the same
					// second with a smaller event id.
					a := g
					a.eventID, a.state, a.at = cm+"-2", "approved", g.at.Add(time.Duration(1+rng.IntN(72))*time.Hour)
					if rng.IntN(4) == 0 {
						a.eventID, a.at = cm+"-0c", g.at
					}
					d.facts = append(d.facts, a)
					if rng.IntN(5) == 0 {
						d.facts = append(d.facts, a) // replayed
					}
					// Then, for some, a clawback, partial or full.
					switch rng.IntN(3) {
					case 1:
						b := a
						b.eventID, b.state, b.amount, b.at = cm+"-3", "partially_clawed_back", a.amount/2, a.at.Add(time.Duration(1+rng.IntN(72))*time.Hour)
						d.facts = append(d.facts, b)
					case 2:
						b := a
						b.eventID, b.state, b.amount, b.at = cm+"-3", "clawed_back", 0, a.at.Add(time.Duration(1+rng.IntN(72))*time.Hour)
						d.facts = append(d.facts, b)
					}
				}
			}
		}
	}
	// A refund event (its line must not count as a placed line).
	d.orders = append(d.orders, rOrder{eventID: "oe-refund", typ: "order.refunded", orderID: "o001", currency: "EUR",
		at: d.today, lines: []rLine{{id: "1", product: "prod9", qty: 1, unit: 100}}})
	return d
}

func (d *dataset) seed(t *testing.T, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	send := func(query string, rows int, row func(i int) []any) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for i := range rows {
			if err := b.Append(row(i)...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	send("INSERT INTO clicks (click_id, at, device_token, partner_id, link_id, product_id, bot)", len(d.clicks), func(i int) []any {
		c := d.clicks[i]
		return []any{c.id, c.at, c.device, c.partner, c.link, c.product, b2u(c.bot)}
	})
	send("INSERT INTO order_events (event_id, type, order_id, at, device_token, currency, lines)", len(d.orders), func(i int) []any {
		o := d.orders[i]
		return []any{o.eventID, o.typ, o.orderID, o.at, o.device, o.currency, uint32(len(o.lines))}
	})
	type lineRow struct {
		o rOrder
		l rLine
	}
	var lines []lineRow
	for _, o := range d.orders {
		for _, l := range o.lines {
			lines = append(lines, lineRow{o, l})
		}
	}
	send("INSERT INTO order_lines (event_id, type, order_id, at, line_id, product_id, quantity, unit_price_minor, discount_minor, amount_minor, currency)", len(lines), func(i int) []any {
		r := lines[i]
		return []any{r.o.eventID, r.o.typ, r.o.orderID, r.o.at, r.l.id, r.l.product, r.l.qty, r.l.unit, r.l.discount, r.l.unit*r.l.qty - r.l.discount, r.o.currency}
	})
	// Facts in two inserts, the later states first: the latest-by-time must
	// win whatever the insert order.
	half := len(d.facts) / 2
	for _, part := range [][]rFact{d.facts[half:], d.facts[:half]} {
		send("INSERT INTO commission_facts (event_id, at, commission_id, order_id, line_id, partner_id, currency, amount_minor, base_minor, state)", len(part), func(i int) []any {
			f := part[i]
			return []any{f.eventID, f.at, f.commissionID, f.orderID, f.lineID, f.partner, f.currency, f.amount, f.base, f.state}
		})
	}
}

// withStates counts the commissions whose facts are in exactly the states
// pending and states.
func (d *dataset) withStates(states ...string) int {
	seen := map[string]map[string]bool{}
	for _, f := range d.facts {
		if seen[f.commissionID] == nil {
			seen[f.commissionID] = map[string]bool{}
		}
		seen[f.commissionID][f.state] = true
	}
	want := map[string]bool{"pending": true}
	for _, s := range states {
		want[s] = true
	}
	n := 0
	for _, got := range seen {
		if reflect.DeepEqual(got, want) {
			n++
		}
	}
	return n
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// runReport runs a report file and returns its rows as "a|b|c" strings,
// floats with 2 decimals.
func runReport(t testing.TB, conn driver.Conn, name string) []string {
	t.Helper()
	sql, err := os.ReadFile(filepath.Join(reportsDir, name+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(context.Background(), string(sql))
	if err != nil {
		t.Fatalf("report %s: %v", name, err)
	}
	defer rows.Close()
	var out []string
	cols := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("report %s: %v", name, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = formatValue(reflect.ValueOf(v).Elem().Interface())
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("report %s: %v", name, err)
	}
	return out
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return fmt.Sprintf("%.2f", x)
	case time.Time:
		return x.UTC().Format("2006-01-02")
	}
	return fmt.Sprint(v)
}

func row(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = formatValue(v)
	}
	return strings.Join(parts, "|")
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// TestReports runs every report in deploy/clickhouse/reports on seeded data
// (with replayed rows) and compares it with the same question answered in Go.
func TestReports(t *testing.T) {
	env := testenv.Get(t)
	conn, _ := clickhouseDB(t, env.ClickHouseAddr())
	d := newDataset(1)
	d.seed(t, conn)
	want := d.expected()
	// A commission partly voided and then approved (the normal path) reads
	// as approved: the refunds report must still count it, also when it was
	// clawed back afterwards.
	for _, states := range [][]string{
		{"partially_voided", "approved"},
		{"partially_voided", "approved", "partially_clawed_back"},
	} {
		if n := d.withStates(states...); n < 2 {
			t.Fatalf("the dataset has %d commissions that went pending -> %s; it proves little", n, strings.Join(states, " -> "))
		}
	}
	files, err := filepath.Glob(filepath.Join(reportsDir, "*.sql"))
	if err != nil || len(files) < 8 {
		t.Fatalf("want at least 8 reports in %s, found %d (%v)", reportsDir, len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		t.Run(name, func(t *testing.T) {
			exp, ok := want[name]
			if !ok {
				t.Fatalf("report %s has no expected answer in this test", name)
			}
			got := runReport(t, conn, name)
			if len(exp) == 0 {
				t.Fatalf("report %s: the dataset gives no rows; it proves nothing", name)
			}
			if strings.Join(got, "\n") != strings.Join(exp, "\n") {
				t.Fatalf("report %s:\ngot:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(exp, "\n"))
			}
		})
	}
}

// successor is a later state a commission can reach from a state, where
// it keeps nothing.
var successor = map[string]string{
	"partially_voided": "voided", "approved": "clawed_back", "partially_clawed_back": "clawed_back",
}

// lifecycle is the order of commission states (commission_states, 00204).
var lifecycle = map[string]int{
	"pending": 1, "partially_voided": 2, "voided": 3, "approved": 4, "partially_clawed_back": 5, "clawed_back": 6,
}

// later reports whether fact f supersedes c: by the state's place in the
// lifecycle, then the smaller amount kept, then (at, event_id).
func later(f, c rFact) bool {
	if lifecycle[f.state] != lifecycle[c.state] {
		return lifecycle[f.state] > lifecycle[c.state]
	}
	if f.amount != c.amount {
		return f.amount < c.amount
	}
	return f.at.After(c.at) || (f.at.Equal(c.at) && f.eventID > c.eventID)
}

type current struct {
	rFact
	first time.Time
	// accrued is the largest amount over the commission's facts; pv says
	// whether one of them is partially_voided.
	accrued int64
	pv      bool
}

// expected answers every report from the raw dataset.
func (d *dataset) expected() map[string][]string {
	window := d.today.AddDate(0, 0, -29)
	inWindow := func(t time.Time) bool { return !t.Before(window) }
	// Distinct clicks.
	clicks := map[string]rClick{}
	for _, c := range d.clicks {
		clicks[c.id] = c
	}
	// Latest fact per commission in its lifecycle; first time.
	cur := map[string]*current{}
	for _, f := range d.facts {
		c := cur[f.commissionID]
		if c == nil {
			cur[f.commissionID] = &current{f, f.at, f.amount, f.state == "partially_voided"}
			continue
		}
		if later(f, c.rFact) {
			c.rFact = f
		}
		if f.at.Before(c.first) {
			c.first = f.at
		}
		c.accrued = max(c.accrued, f.amount)
		c.pv = c.pv || f.state == "partially_voided"
	}
	live := func(c *current) bool { return c.state != "voided" && c.state != "clawed_back" }
	// The latest decision's version per order line (ids end in it).
	version := func(c *current) int {
		v, err := strconv.Atoi(c.commissionID[strings.LastIndexByte(c.commissionID, '/')+1:])
		if err != nil {
			panic("commission id without a version: " + c.commissionID)
		}
		return v
	}
	latest := map[[2]string]int{}
	for _, c := range cur {
		k := [2]string{c.orderID, c.lineID}
		latest[k] = max(latest[k], version(c))
	}
	replaced := func(c *current) bool { return version(c) != latest[[2]string{c.orderID, c.lineID}] }

	type clickAgg struct {
		human, bot map[string]bool
		devices    map[string]bool
	}
	perPartner := map[string]*clickAgg{}
	for _, c := range clicks {
		if c.partner == "" || !inWindow(c.at) {
			continue
		}
		a := perPartner[c.partner]
		if a == nil {
			a = &clickAgg{map[string]bool{}, map[string]bool{}, map[string]bool{}}
			perPartner[c.partner] = a
		}
		if c.bot {
			a.bot[c.id] = true
		} else {
			a.human[c.id] = true
			a.devices[c.device] = true
		}
	}
	nClicks := func(p string) int64 {
		if a := perPartner[p]; a != nil {
			return int64(len(a.human))
		}
		return 0
	}
	out := map[string][]string{}

	// partner_leaderboard, earnings_per_click.
	type money struct {
		orders        map[string]bool
		revenue, comm int64
	}
	pc := map[[2]string]*money{}
	convOrders := map[string]map[string]bool{}
	for _, c := range cur {
		if !inWindow(c.first) {
			continue
		}
		if !replaced(c) {
			if convOrders[c.partner] == nil {
				convOrders[c.partner] = map[string]bool{}
			}
			convOrders[c.partner][c.orderID] = true
		}
		k := [2]string{c.partner, c.currency}
		m := pc[k]
		if m == nil {
			m = &money{orders: map[string]bool{}}
			pc[k] = m
		}
		if live(c) {
			m.orders[c.orderID] = true
			m.revenue += c.base
			m.comm += c.amount
		}
	}
	type lb struct {
		partner, currency                      string
		clicks, devices, orders, revenue, comm int64
	}
	var lbs []lb
	hasMoney := map[string]bool{}
	for k, m := range pc {
		hasMoney[k[0]] = true
		var devices int64
		if a := perPartner[k[0]]; a != nil {
			devices = int64(len(a.devices))
		}
		lbs = append(lbs, lb{k[0], k[1], nClicks(k[0]), devices, int64(len(m.orders)), m.revenue, m.comm})
	}
	for p, a := range perPartner {
		if !hasMoney[p] {
			lbs = append(lbs, lb{p, "", int64(len(a.human)), int64(len(a.devices)), 0, 0, 0})
		}
	}
	sort.Slice(lbs, func(i, j int) bool {
		a, b := lbs[i], lbs[j]
		if a.comm != b.comm {
			return a.comm > b.comm
		}
		if a.clicks != b.clicks {
			return a.clicks > b.clicks
		}
		if a.partner != b.partner {
			return a.partner < b.partner
		}
		return a.currency < b.currency
	})
	for _, r := range lbs {
		out["partner_leaderboard"] = append(out["partner_leaderboard"], row(r.partner, r.currency, r.clicks, r.devices, r.orders, r.revenue, r.comm))
	}

	type epc struct {
		partner, currency string
		clicks, comm      int64
		epc               float64
	}
	var epcs []epc
	for k, m := range pc {
		n := nClicks(k[0])
		e := 0.0
		if n != 0 {
			e = round2(float64(m.comm) / float64(n))
		}
		epcs = append(epcs, epc{k[0], k[1], n, m.comm, e})
	}
	sort.Slice(epcs, func(i, j int) bool {
		a, b := epcs[i], epcs[j]
		if a.epc != b.epc {
			return a.epc > b.epc
		}
		if a.partner != b.partner {
			return a.partner < b.partner
		}
		return a.currency < b.currency
	})
	for _, r := range epcs {
		out["earnings_per_click"] = append(out["earnings_per_click"], row(r.partner, r.currency, r.clicks, r.comm, r.epc))
	}

	// conversion_rate.
	type conv struct {
		partner        string
		clicks, orders int64
		pct            float64
	}
	var convs []conv
	partners := map[string]bool{}
	for p := range perPartner {
		partners[p] = true
	}
	for p := range convOrders {
		partners[p] = true
	}
	for p := range partners {
		n, o := nClicks(p), int64(len(convOrders[p]))
		pct := 0.0
		if n != 0 {
			pct = round2(100 * float64(o) / float64(n))
		}
		convs = append(convs, conv{p, n, o, pct})
	}
	sort.Slice(convs, func(i, j int) bool {
		if convs[i].pct != convs[j].pct {
			return convs[i].pct > convs[j].pct
		}
		return convs[i].partner < convs[j].partner
	})
	for _, r := range convs {
		out["conversion_rate"] = append(out["conversion_rate"], row(r.partner, r.clicks, r.orders, r.pct))
	}

	// top_products_per_partner.
	product := map[[2]string]string{}
	for _, o := range d.orders {
		if o.typ == "order.placed" {
			for _, l := range o.lines {
				product[[2]string{o.orderID, l.id}] = l.product
			}
		}
	}
	type tp struct {
		partner, product, currency string
		orders                     map[string]bool
		revenue, comm              int64
	}
	tps := map[[3]string]*tp{}
	for _, c := range cur {
		if !inWindow(c.first) || !live(c) {
			continue
		}
		prod, ok := product[[2]string{c.orderID, c.lineID}]
		if !ok {
			continue
		}
		k := [3]string{c.partner, prod, c.currency}
		x := tps[k]
		if x == nil {
			x = &tp{partner: c.partner, product: prod, currency: c.currency, orders: map[string]bool{}}
			tps[k] = x
		}
		x.orders[c.orderID] = true
		x.revenue += c.base
		x.comm += c.amount
	}
	var tpl []*tp
	for _, x := range tps {
		tpl = append(tpl, x)
	}
	sort.Slice(tpl, func(i, j int) bool {
		a, b := tpl[i], tpl[j]
		if a.partner != b.partner {
			return a.partner < b.partner
		}
		if a.comm != b.comm {
			return a.comm > b.comm
		}
		if a.product != b.product {
			return a.product < b.product
		}
		return a.currency < b.currency
	})
	perP := map[string]int{}
	for _, x := range tpl {
		if perP[x.partner] == 3 {
			continue
		}
		perP[x.partner]++
		out["top_products_per_partner"] = append(out["top_products_per_partner"], row(x.partner, x.product, x.currency, int64(len(x.orders)), x.revenue, x.comm))
	}

	// click_to_order_delay.
	buckets := map[string]int64{}
	seenOrder := map[string]bool{}
	for _, o := range d.orders {
		if o.typ != "order.placed" || o.device == "" || !inWindow(o.at) || seenOrder[o.orderID] {
			continue
		}
		seenOrder[o.orderID] = true
		var last time.Time
		for _, c := range clicks {
			if c.bot || c.partner == "" || c.device != o.device || c.at.After(o.at) || c.at.Before(o.at.Add(-365*24*time.Hour)) {
				continue
			}
			if c.at.After(last) {
				last = c.at
			}
		}
		if last.IsZero() {
			continue
		}
		delay := o.at.Sub(last)
		var b string
		switch {
		case delay < time.Hour:
			b = "1 under 1 hour"
		case delay < 24*time.Hour:
			b = "2 1 hour to 1 day"
		case delay < 7*24*time.Hour:
			b = "3 1 to 7 days"
		case delay < 30*24*time.Hour:
			b = "4 7 to 30 days"
		default:
			b = "5 over 30 days"
		}
		buckets[b]++
	}
	var bnames []string
	for b := range buckets {
		bnames = append(bnames, b)
	}
	sort.Strings(bnames)
	for _, b := range bnames {
		out["click_to_order_delay"] = append(out["click_to_order_delay"], row(b, buckets[b]))
	}

	// new_vs_returning_devices.
	first := map[string]time.Time{}
	days := map[time.Time]map[string]bool{}
	for _, c := range clicks {
		if c.bot || c.partner == "" {
			continue
		}
		day := c.at.Truncate(24 * time.Hour)
		if f, ok := first[c.device]; !ok || day.Before(f) {
			first[c.device] = day
		}
		if inWindow(c.at) {
			if days[day] == nil {
				days[day] = map[string]bool{}
			}
			days[day][c.device] = true
		}
	}
	var dl []time.Time
	for day := range days {
		dl = append(dl, day)
	}
	sort.Slice(dl, func(i, j int) bool { return dl[i].Before(dl[j]) })
	for _, day := range dl {
		var n, r int64
		for dev := range days[day] {
			if first[dev].Equal(day) {
				n++
			} else {
				r++
			}
		}
		out["new_vs_returning_devices"] = append(out["new_vs_returning_devices"], row(day, n, r))
	}

	// refunds_and_clawbacks_by_partner (90 days).
	type rf struct {
		partner, currency          string
		v, pv, cb, pcb, lost, back int64
		orders                     map[string]bool
	}
	rfs := map[[2]string]*rf{}
	for _, c := range cur {
		if c.first.Before(d.today.AddDate(0, 0, -89)) || replaced(c) {
			continue
		}
		k := [2]string{c.partner, c.currency}
		x := rfs[k]
		if x == nil {
			x = &rf{partner: c.partner, currency: c.currency, orders: map[string]bool{}}
			rfs[k] = x
		}
		// Partly voided before approval, whatever came after, unless
		// voided in full since.
		refund := c.pv && c.state != "voided"
		if refund {
			x.pv++
		}
		switch c.state {
		case "voided":
			x.v++
			x.lost += c.base
			refund = true
		case "clawed_back":
			x.cb++
			x.lost += c.base
			refund = true
		case "partially_clawed_back":
			x.pcb++
			refund = true
		}
		x.back += c.accrued - c.amount
		if refund {
			x.orders[c.orderID] = true
		}
	}
	var rfl []*rf
	for _, x := range rfs {
		if len(x.orders) > 0 {
			rfl = append(rfl, x)
		}
	}
	sort.Slice(rfl, func(i, j int) bool {
		a, b := rfl[i], rfl[j]
		if len(a.orders) != len(b.orders) {
			return len(a.orders) > len(b.orders)
		}
		if a.partner != b.partner {
			return a.partner < b.partner
		}
		return a.currency < b.currency
	})
	for _, x := range rfl {
		out["refunds_and_clawbacks_by_partner"] = append(out["refunds_and_clawbacks_by_partner"], row(x.partner, x.currency, x.v, x.pv, x.cb, x.pcb, x.lost, x.back, int64(len(x.orders))))
	}

	// bot_share.
	type bs struct {
		partner    string
		human, bot int64
		pct        float64
	}
	var bsl []bs
	for p, a := range perPartner {
		h, b := int64(len(a.human)), int64(len(a.bot))
		pct := 0.0
		if h+b > 0 {
			pct = round2(100 * float64(b) / float64(h+b))
		}
		bsl = append(bsl, bs{p, h, b, pct})
	}
	sort.Slice(bsl, func(i, j int) bool {
		if bsl[i].pct != bsl[j].pct {
			return bsl[i].pct > bsl[j].pct
		}
		return bsl[i].partner < bsl[j].partner
	})
	for _, x := range bsl {
		out["bot_share"] = append(out["bot_share"], row(x.partner, x.human, x.bot, x.pct))
	}
	return out
}
