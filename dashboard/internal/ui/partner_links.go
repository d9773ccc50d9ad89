package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerLinks struct{ *UI }

// ServeHTTP lists the partner's links with copy buttons and QR codes, and
// the forms to generate product, category and deep links.
func (h partnerLinks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	ctx := r.Context()
	pg := pageNumber(r)
	ls, more, err := h.Store.Links(ctx, s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// The product picker lists the first MaxPageSize catalog products
	// matching ?q (the pager above is for the links).
	ps, _, err := h.Store.Products(ctx, r.URL.Query().Get("q"), storage.Page{Size: storage.MaxPageSize})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cats, err := h.Store.Categories(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_links", http.StatusOK, view{Title: "Links", Page: pg, HasMore: more, Data: map[string]any{
		"Links": ls, "Maker": h.Links, "Products": ps, "Categories": cats, "New": r.URL.Query().Get("new")}})
}
