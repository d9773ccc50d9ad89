package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerList struct{ *UI }

func (h partnerList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg := pageNumber(r)
	f := storage.PartnerFilter{Query: q.Get("q"), Status: q.Get("status")}
	ps, more, err := h.Store.Partners(r.Context(), f, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_list", http.StatusOK, view{Title: "Partners", Page: pg, HasMore: more,
		Data: map[string]any{"Partners": ps, "Filter": f, "Links": h.Links}})
}
