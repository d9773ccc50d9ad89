package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerList struct{ Deps }

func (h *partnerList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ps, more, err := h.Store.Partners(r.Context(), storage.PartnerFilter{Query: q.Get("q"), Status: q.Get("status")}, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]partnerJSON, len(ps))
	for i, p := range ps {
		out[i] = h.partnerToJSON(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"partners": out, "has_more": more})
}
