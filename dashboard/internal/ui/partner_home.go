package ui

import (
	"net/http"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/storage"
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
	sched, err := h.Ledger.ReserveSchedule(ctx, strconv.FormatInt(p.ID, 10), cur.Code(), 50)
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
		"P": p, "Balance": bal, "Currency": cur.Code(), "Schedule": sched, "SiteLink": h.Links.SlugURL(p.Slug),
		"Charts": charts, "ChartNote": note, "Confirmed": bal.AvailableMinor + bal.ReservedMinor,
		"History": hist, "MoreHistory": moreHist}})
}
