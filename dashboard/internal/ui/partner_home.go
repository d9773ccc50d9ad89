package ui

import (
	"html/template"
	"net/http"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
)

type partnerHome struct{ *UI }

// homeHistoryRows is how many adjustments and penalties the balance page
// shows.
const homeHistoryRows = 10

// ServeHTTP shows the partner's balance (pending, available, reserved with
// release dates, paid out), their latest adjustments and penalties, their
// site link and their charts.
func (h partnerHome) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	ctx := r.Context()
	p, err := h.Store.Partner(ctx, s.User.PartnerID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	bal, cur, err := api.PartnerBalance(ctx, h.Store, h.Ledger, p.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	rs, err := h.reserves(r, strconv.FormatInt(p.ID, 10), cur.Code())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// The latest adjustments and penalties explain balance changes that are
	// not commissions; the full list is on /partner/adjustments.
	hist, moreHist, err := h.Store.MoneyHistoryPage(ctx, p.ID, storage.Page{Size: homeHistoryRows})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	charts, note := h.charts(ctx, strconv.FormatInt(p.ID, 10), cur.Code())
	h.render(w, r, "partner_home", http.StatusOK, view{Title: "Balance", Data: map[string]any{
		"P": p, "Balance": bal, "Currency": cur.Code(), "SiteLink": h.Links.SlugURL(p.Slug),
		"Charts": charts, "ChartNote": note, "Confirmed": bal.AvailableMinor + bal.ReservedMinor,
		"History": hist, "MoreHistory": moreHist, "Reserves": rs, "Schedule": rs.Rows}})
}

// reserveRows is how many reserves the balance page lists at a time.
const reserveRows = 50

// reservePage is the part of the partner's reserve schedule the balance
// page shows: the rows of one page (?reserves_page=, by release date),
// where they are in the whole schedule, and what it holds in all.
type reservePage struct {
	Rows        []ledger.ReserveEntry
	First, Last int   // 1-based positions of Rows in the schedule
	Count       int   // reserves held; at least this many when Capped
	Capped      bool  // more than ledger.MaxPageSize reserves: Count and HeldMinor cover the first ones
	HeldMinor   int64 // what the counted reserves hold together
	Number      int   // the page
	Prev, Next  template.URL
}

// reserves reads the schedule (at most ledger.MaxPageSize reserves, the
// ledger's bound, through its partner index) and cuts the requested page
// from it, so that the page can say how many reserves there are and what
// they hold even when it shows only some of them.
func (h partnerHome) reserves(r *http.Request, partnerID, currency string) (reservePage, error) {
	all, err := h.Ledger.ReserveSchedule(r.Context(), partnerID, currency, ledger.MaxPageSize)
	if err != nil {
		return reservePage{}, err
	}
	pages := max((len(all)+reserveRows-1)/reserveRows, 1)
	n, _ := strconv.Atoi(r.URL.Query().Get("reserves_page"))
	n = min(max(n, 1), pages)
	rp := reservePage{Count: len(all), Capped: len(all) == ledger.MaxPageSize, Number: n}
	for _, e := range all {
		rp.HeldMinor += e.HeldMinor
	}
	from, to := (n-1)*reserveRows, min(n*reserveRows, len(all))
	rp.Rows, rp.First, rp.Last = all[from:to], from+1, to
	q := r.URL.Query()
	if n > 1 {
		q.Set("reserves_page", strconv.Itoa(n-1))
		rp.Prev = template.URL("?" + q.Encode() + "#reserve")
	}
	if n < pages {
		q.Set("reserves_page", strconv.Itoa(n+1))
		rp.Next = template.URL("?" + q.Encode() + "#reserve")
	}
	return rp, nil
}
