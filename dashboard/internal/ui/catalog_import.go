package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/catalog"
)

type catalogImport struct{ *UI }

// ServeHTTP imports a product catalog file (CSV with a header, or a JSON
// array): all rows or none.
func (h catalogImport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/catalog"
	f, hdr, err := r.FormFile("file")
	if err != nil {
		h.redirect(w, r, back, "Error: choose a CSV or JSON file")
		return
	}
	defer f.Close()
	ps, err := catalog.Parse(hdr.Filename, f, h.Links)
	if err != nil {
		h.redirect(w, r, back, "Error: "+err.Error())
		return
	}
	if err := h.Store.ImportProducts(r.Context(), ps); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, back, "Imported "+itoa(int64(len(ps)))+" products.")
}
