package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerRateSet struct{ *UI }

// ServeHTTP sets a partner+product or partner+category rate, or deletes
// one (delete=<rate id>).
func (h partnerRateSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(id)
	if del, ok := parseID(r.PostFormValue("delete")); ok {
		if err := h.Store.DeleteRate(r.Context(), id, del); err != nil {
			h.fail(w, r, back, err)
			return
		}
		h.redirect(w, r, back, "Rate removed.")
		return
	}
	if _, err := h.Store.Partner(r.Context(), id); err != nil {
		h.fail(w, r, back, err)
		return
	}
	rt := storage.Rate{PartnerID: id}
	target := strings.TrimSpace(r.PostFormValue("target")) // SetRate refuses one too long, naming the field
	switch r.PostFormValue("level") {
	case "product":
		rt.ProductID = target
	case "category":
		rt.CategoryID = target
	default:
		h.redirect(w, r, back, "Error: level must be product or category")
		return
	}
	if target == "" {
		h.redirect(w, r, back, "Error: enter a product or category id")
		return
	}
	h.saveRate(w, r, rt, back)
}
