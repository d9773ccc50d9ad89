package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
)

// TestReserveScheduleNotCut: a partner with more reserves than one page
// is told how many there are and what they hold, and can page through all
// of them (the page used to stop at 50 rows without a word).
func TestReserveScheduleNotCut(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	ctx := context.Background()
	pid := strconv.FormatInt(a, 10)
	const n = 156
	var accrue, approve []ledger.Op
	base := time.Now().UTC().Add(24 * time.Hour)
	for i := range n {
		cid := fmt.Sprintf("res-%03d", i)
		accrue = append(accrue, ledger.AccrueParams{Key: "accrue:" + cid, PartnerID: pid, Currency: "EUR", AmountMinor: 1000, CommissionID: cid})
		approve = append(approve, ledger.ApproveParams{Key: "approve:" + cid, CommissionID: cid, ReserveBasisPoints: 1000,
			ReleaseAt: base.Add(time.Duration(i) * 24 * time.Hour)})
	}
	if _, err := f.ledger.Batch(ctx, accrue); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.Batch(ctx, approve); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	_, body, _ := c.get("/partner")
	for _, want := range []string{`id="reserved">156.00 EUR`, "Showing reserves 1–50 of 156, 156.00 EUR held in all.", "res-000", "res-049", "reserves_page=2"} {
		if !strings.Contains(body, want) {
			t.Errorf("/partner lacks %q", want)
		}
	}
	if strings.Contains(body, "res-050") {
		t.Error("/partner shows more than one page of reserves")
	}
	_, body, _ = c.get("/partner?reserves_page=4")
	for _, want := range []string{"Showing reserves 151–156 of 156", "res-150", "res-155", "reserves_page=3"} {
		if !strings.Contains(body, want) {
			t.Errorf("/partner?reserves_page=4 lacks %q", want)
		}
	}
	if strings.Contains(body, "res-149") || strings.Contains(body, "reserves_page=5") {
		t.Error("last page of reserves shows rows or a pager beyond it")
	}
	// A few reserves: all shown, no summary or pager needed.
	b := f.partner("bora")
	bid := strconv.FormatInt(b, 10)
	if _, err := f.ledger.Batch(ctx, []ledger.Op{ledger.AccrueParams{Key: "accrue:b-1", PartnerID: bid, Currency: "EUR", AmountMinor: 1000, CommissionID: "b-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.Batch(ctx, []ledger.Op{ledger.ApproveParams{Key: "approve:b-1", CommissionID: "b-1", ReserveBasisPoints: 1000, ReleaseAt: base}}); err != nil {
		t.Fatal(err)
	}
	cb := f.client()
	cb.login("bora@example.com", "partner-pw-bora")
	_, body, _ = cb.get("/partner")
	if !strings.Contains(body, "b-1") || strings.Contains(body, "reserve-pager") || strings.Contains(body, "res-0") {
		t.Error("a short reserve schedule is not shown whole, or shows a pager or another partner's reserves")
	}
}

// TestPartnerPageSectionsPaged: the admin's partner page pages its links,
// bound customers and adjustments instead of stopping at 20 of each.
func TestPartnerPageSectionsPaged(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	ctx := context.Background()
	for i := range 25 {
		if _, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: a, Kind: "deep", TargetURL: fmt.Sprintf("https://shop.example/l-%02d", i)}, 0); err != nil {
			t.Fatal(err)
		}
		f.exec(`INSERT INTO customers (customer_id, email, first_seen_at) VALUES ($1, $1||'@buyer.example', now())`, fmt.Sprintf("cu-%02d", i))
		f.exec(`INSERT INTO customer_bindings (customer_id, partner_id, source, bound_at) VALUES ($1, $2, 'admin', now() - make_interval(hours => 100 - $3))`,
			fmt.Sprintf("cu-%02d", i), a, i)
		if _, err := f.store.CreateAdjustment(ctx, f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: 100, Currency: "EUR",
			Reason: fmt.Sprintf("bonus-%02d", i), Key: fmt.Sprintf("adj-%02d", i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	page := "/admin/partners/" + strconv.FormatInt(a, 10)
	_, body, _ := adm.get(page)
	for _, want := range []string{"l-24", "cu-24", "bonus-24", "links_page=2", "customers_page=2", "history_page=2"} {
		if !strings.Contains(body, want) {
			t.Errorf("partner page lacks %q", want)
		}
	}
	for _, oldest := range []string{"l-00", "cu-00", "bonus-00"} {
		if strings.Contains(body, oldest) {
			t.Errorf("first page shows %q, beyond 20 rows", oldest)
		}
	}
	// Each list pages on its own; the others stay where they were.
	_, body, _ = adm.get(page + "?links_page=2")
	if !strings.Contains(body, "l-00") || !strings.Contains(body, "l-04") || strings.Contains(body, "l-05") || !strings.Contains(body, "cu-24") {
		t.Error("links page 2 does not show the 5 oldest links beside the first page of customers")
	}
	_, body, _ = adm.get(page + "?customers_page=2&history_page=2")
	for _, want := range []string{"cu-00", "cu-04", "bonus-00", "bonus-04", "l-24"} {
		if !strings.Contains(body, want) {
			t.Errorf("customers and history page 2 lack %q", want)
		}
	}
	if strings.Contains(body, "customers_page=3") || strings.Contains(body, "history_page=3") {
		t.Error("a pager offers a page after the last")
	}
}

// TestAnnouncementUnknownRecipients: unknown partner ids are refused by
// name and nothing is sent; the admin list names the recipients.
func TestAnnouncementUnknownRecipients(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	a := f.partner("ayla")
	b := f.partner("bora")
	as, bs := strconv.FormatInt(a, 10), strconv.FormatInt(b, 10)
	// Refused: the page comes back with the error and what was typed (a
	// redirect lost the text, up to 20000 characters).
	st, page := adm.postPage("/admin/announcements", url.Values{"title": {"Typo <b>"}, "body": {"a long text\nto keep"}, "partner_ids": {as + ", 999999, 999998"}})
	for _, want := range []string{"Error: partner_ids: no such partners: 999998, 999999 (nothing was sent)",
		`value="Typo &lt;b&gt;"`, ">a long text\nto keep</textarea>", `value="` + as + `, 999999, 999998"`} {
		if st != http.StatusUnprocessableEntity || !strings.Contains(page, want) {
			t.Errorf("refused announcement: status %d, page lacks %q", st, want)
		}
	}
	if st, page := adm.postPage("/admin/announcements", url.Values{"title": {"No text"}, "partner_ids": {"x"}}); st != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "Error: title (up to 200) and text") || !strings.Contains(page, `value="No text"`) {
		t.Errorf("announcement without text: status %d, no error or title kept", st)
	}
	if n := f.count(`SELECT count(*) FROM announcements`) + f.count(`SELECT count(*) FROM announcement_recipients`); n != 0 {
		t.Fatalf("a refused announcement wrote %d rows", n)
	}
	s, loc := adm.post("/admin/announcements", url.Values{"title": {"Two"}, "body": {"hi"}, "partner_ids": {as + "," + bs + "," + as}})
	wantFlash(t, adm, s, loc, "Announcement sent")
	s, loc = adm.post("/admin/announcements", url.Values{"title": {"Everyone"}, "body": {"hi"}})
	wantFlash(t, adm, s, loc, "Announcement sent")
	_, body, _ := adm.get("/admin/announcements")
	for _, want := range []string{"2 partners: <a href=\"/admin/partners/" + as + "\">#" + as + " AYLA</a>, <a href=\"/admin/partners/" + bs + "\">#" + bs + " BORA</a>",
		"all partners"} {
		if !strings.Contains(body, want) {
			t.Errorf("announcement list lacks %q", want)
		}
	}
	if strings.Contains(body, ">selected<") {
		t.Error("announcement list still shows the audience as just \"selected\"")
	}
	// More recipients than the list names: the rest are counted.
	ids := []int64{a, b}
	for i := range shownRecipients + 3 {
		p, err := f.store.CreatePartner(context.Background(), storage.Partner{Name: fmt.Sprintf("P%02d", i), Email: fmt.Sprintf("p%02d@example.com", i),
			Slug: fmt.Sprintf("p%02d", i), DefaultRateUPct: -1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if _, err := f.store.CreateAnnouncement(context.Background(), "Many", "hi", ids, 0); err != nil {
		t.Fatal(err)
	}
	_, body, _ = adm.get("/admin/announcements")
	if !strings.Contains(body, fmt.Sprintf("%d partners:", len(ids))) || !strings.Contains(body, fmt.Sprintf(" and %d more", len(ids)-shownRecipients)) {
		t.Error("a long audience is not counted")
	}
}

// shownRecipients is storage.ShownRecipients (spelled out so that the
// test also builds against the storage before the fix).
const shownRecipients = 20

// TestPartnerSearchAnywhere: the admin's partner search matches inside
// the name, e-mail and slug, ignoring case, with '%' and '_' literal, and
// keeps its pages.
func TestPartnerSearchAnywhere(t *testing.T) {
	f := newFixture(t, false)
	adm := adminClient(t, f)
	ctx := context.Background()
	mk := func(name, email, slug string) {
		t.Helper()
		if _, err := f.store.CreatePartner(ctx, storage.Partner{Name: name, Email: email, Slug: slug, DefaultRateUPct: -1}); err != nil {
			t.Fatal(err)
		}
	}
	mk("Gear Guru", "x@demo.local", "gg")
	mk("Other", "other@example.com", "trail-tales")
	mk("Percent 100% Off", "pct@example.com", "pct")
	for _, c := range []struct{ q, want, not string }{
		{"Guru", "Gear Guru", "Other"},
		{"guru", "Gear Guru", "Other"},
		{"demo.local", "Gear Guru", "Other"},
		{"DEMO.LOCAL", "Gear Guru", "Other"},
		{"tales", "Other", "Gear Guru"},
		{"0% o", "Percent 100% Off", "Gear Guru"},
	} {
		_, body, _ := adm.get("/admin/partners?q=" + url.QueryEscape(c.q))
		if !strings.Contains(body, c.want) || strings.Contains(body, c.not) {
			t.Errorf("search %q: want %q and not %q", c.q, c.want, c.not)
		}
	}
	// '%' and '_' are literal: "_" matches only a partner with one.
	if ps, _, err := f.store.Partners(ctx, storage.PartnerFilter{Query: "_"}, storage.Page{}); err != nil || len(ps) != 0 {
		t.Errorf("search \"_\" = %d partners, %v; want none", len(ps), err)
	}
	// Pagination stays: 55 matches inside their names are 50 + 5.
	for i := range 55 {
		mk(fmt.Sprintf("Shop %02d Bulkware", i), fmt.Sprintf("bulk%02d@example.com", i), fmt.Sprintf("b%02d", i))
	}
	ps, more, err := f.store.Partners(ctx, storage.PartnerFilter{Query: "ulkwar"}, storage.Page{Number: 1, Size: 50})
	if err != nil || len(ps) != 50 || !more {
		t.Fatalf("page 1: %d partners, more %v, %v", len(ps), more, err)
	}
	ps, more, err = f.store.Partners(ctx, storage.PartnerFilter{Query: "ulkwar"}, storage.Page{Number: 2, Size: 50})
	if err != nil || len(ps) != 5 || more {
		t.Fatalf("page 2: %d partners, more %v, %v", len(ps), more, err)
	}
	_, body, _ := adm.get("/admin/partners?q=ulkwar")
	if !strings.Contains(body, "page=2") {
		t.Error("the search's first page has no link to the next")
	}
}

// TestPartnerPayoutsShowReference: the partner sees the payment reference
// the admin entered and the reason a payout failed.
func TestPartnerPayoutsShowReference(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	ctx := context.Background()
	if _, err := f.store.CreateAdjustment(ctx, f.ledger, storage.Adjustment{PartnerID: a, AmountMinor: 10000, Currency: "EUR", Reason: "start", Key: "adj-start"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetBankAccount(ctx, a, storage.BankAccount{Holder: "Ayla", IBAN: "DE89370400440532013000"}); err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE program_settings SET min_payout_minor = 100`)
	p1, err := f.store.RequestPayout(ctx, f.ledger, a, 0, 3000, "payout-1")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := f.store.RequestPayout(ctx, f.ledger, a, 0, 2000, "payout-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.DecidePayout(ctx, f.ledger, p1.ID, true, "SEPA-REF-4711", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DecidePayout(ctx, f.ledger, p2.ID, false, "account closed", 0); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	_, body, _ := c.get("/partner/payouts")
	for _, want := range []string{"SEPA-REF-4711", "failed: account closed"} {
		if !strings.Contains(body, want) {
			t.Errorf("partner payouts lack %q", want)
		}
	}
}

// TestReserveScheduleCapped: past the ledger's read bound the page says it
// lists only the first reserves.
func TestReserveScheduleCapped(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	pid := strconv.FormatInt(a, 10)
	n := ledger.MaxPageSize + 1
	var accrue, approve []ledger.Op
	base := time.Now().UTC().Add(24 * time.Hour)
	for i := range n {
		cid := fmt.Sprintf("res-%04d", i)
		accrue = append(accrue, ledger.AccrueParams{Key: "accrue:" + cid, PartnerID: pid, Currency: "EUR", AmountMinor: 1000, CommissionID: cid})
		approve = append(approve, ledger.ApproveParams{Key: "approve:" + cid, CommissionID: cid, ReserveBasisPoints: 1000, ReleaseAt: base.Add(time.Duration(i) * time.Hour)})
	}
	for _, ops := range [][]ledger.Op{accrue, approve} {
		if _, err := f.ledger.Batch(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	s, body, _ := c.get("/partner?reserves_page=20")
	want := fmt.Sprintf("Showing reserves 951–1000 of the first %d by release date (there are more; the Reserved card is the total), 1000.00 EUR held in all by those.", ledger.MaxPageSize)
	if s != 200 || !strings.Contains(body, want) || !strings.Contains(body, `id="reserved">1001.00 EUR`) {
		t.Errorf("capped schedule: %d, lacks %q", s, want)
	}
}
