package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type rateList struct{ Deps }

// rateJSON is the wire form of a program-wide rate: one of product_id and
// category_id, and the rate as a percent string.
type rateJSON struct {
	ProductID  string `json:"product_id,omitempty"`
	CategoryID string `json:"category_id,omitempty"`
	Rate       string `json:"rate"`
}

func rateToJSON(r storage.Rate) rateJSON {
	return rateJSON{ProductID: r.ProductID, CategoryID: r.CategoryID, Rate: links.FormatRate(r.RateUPct)}
}

// ServeHTTP lists the program-wide product and category rates (DESIGN 5:
// they apply to every partner, below a partner's own product or category
// rate): product rates first, then category rates.
func (h *rateList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs, more, err := h.Store.Rates(r.Context(), 0, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]rateJSON, len(rs))
	for i, x := range rs {
		out[i] = rateToJSON(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rates": out, "has_more": more})
}
