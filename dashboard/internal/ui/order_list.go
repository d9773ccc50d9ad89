package ui

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type orderList struct{ *UI }

// ServeHTTP lists orders through partners, filtered by partner, date and
// state, each with its attribution; the manual sale form is on this page.
func (h orderList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f storage.OrderFilter
	f.PartnerID, _ = parseID(q.Get("partner_id"))
	f.Status = q.Get("status")
	if q.Get("forced") == "1" {
		forced := true
		f.Forced = &forced
	}
	f.From, _ = time.Parse("2006-01-02", q.Get("from"))
	if to, err := time.Parse("2006-01-02", q.Get("to")); err == nil {
		f.To = to.AddDate(0, 0, 1) // inclusive day
	}
	pg := pageNumber(r)
	os, more, err := h.Store.Orders(r.Context(), f, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	ids := make([]int64, 0, len(os))
	for _, o := range os {
		if o.PartnerID > 0 {
			ids = append(ids, o.PartnerID)
		}
	}
	names, err := h.Store.PartnerNames(r.Context(), ids)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "order_list", http.StatusOK, view{Title: "Orders", Page: pg, HasMore: more, Data: map[string]any{
		"Orders": os, "Names": names, "Q": map[string]string{"partner_id": q.Get("partner_id"), "status": f.Status,
			"from": q.Get("from"), "to": q.Get("to"), "forced": q.Get("forced")}, "RequestID": auth.NewToken()}})
}
