package api

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type rateSet struct{ Deps }

// programRate is the program-wide rate (no partner) for a product or a
// category; storage checks that exactly one of them is given.
func programRate(productID, categoryID string) storage.Rate {
	return storage.Rate{ProductID: strings.TrimSpace(productID), CategoryID: strings.TrimSpace(categoryID)}
}

// ServeHTTP sets (creates or replaces) the program-wide rate of a product
// or a category: {"product_id"|"category_id", "rate"}. Setting the same
// rate again changes nothing, so it needs no Idempotency-Key.
func (h *rateSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID  string  `json:"product_id"`
		CategoryID string  `json:"category_id"`
		Rate       *string `json:"rate"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	rt := programRate(in.ProductID, in.CategoryID)
	if in.Rate == nil {
		h.fail(w, r, bad("rate", "is required (a percent string such as \"12.5\")"))
		return
	}
	var err error
	if rt.RateUPct, err = links.ParsePercent(*in.Rate); err != nil {
		h.fail(w, r, bad("rate", "%v", err))
		return
	}
	if err := h.Store.SetRate(r.Context(), rt); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rateToJSON(rt))
}
