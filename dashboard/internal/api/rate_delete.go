package api

import "net/http"

type rateDelete struct{ Deps }

// ServeHTTP removes the program-wide rate of a product or a category
// ({"product_id"|"category_id"}); its lines fall back to the next rule of
// DESIGN 5. 404 naming the field when there is no such rate.
func (h *rateDelete) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID  string `json:"product_id"`
		CategoryID string `json:"category_id"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	rt := programRate(in.ProductID, in.CategoryID)
	if err := h.Store.UnsetRate(r.Context(), rt); err != nil {
		h.fail(w, r, err)
		return
	}
	out := map[string]any{"rate": nil}
	if rt.ProductID != "" {
		out["product_id"] = rt.ProductID
	} else {
		out["category_id"] = rt.CategoryID
	}
	writeJSON(w, http.StatusOK, out)
}
