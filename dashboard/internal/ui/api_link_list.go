package ui

import "net/http"

type apiLinkList struct{ *UI }

// linkJSON is a tracking link in the partner API.
type linkJSON struct {
	ID         int64  `json:"id"`
	Code       string `json:"code"`
	URL        string `json:"url"`
	Target     string `json:"target"`
	ProductID  string `json:"product_id,omitempty"`
	CategoryID string `json:"category_id,omitempty"`
}

// ServeHTTP lists the partner's own active links.
func (h apiLinkList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	ls, more, err := h.Store.Links(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	out := make([]linkJSON, len(ls))
	for i, l := range ls {
		out[i] = linkJSON{ID: l.ID, Code: l.Code, URL: h.Links.TrackingURL(l.Code), Target: l.TargetURL, ProductID: l.ProductID, CategoryID: l.CategoryID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": out, "has_more": more})
}
