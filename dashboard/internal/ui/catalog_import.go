package ui

import (
	"net/http"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/catalog"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type catalogImport struct{ *UI }

// takesUpload makes POST /admin/catalog an upload route (ui.go): its
// multipart body may be up to maxMultipartBytes.
func (catalogImport) takesUpload() {}

// ServeHTTP imports a product catalog file (CSV with a header, or a JSON
// array): all rows or none. A file over MaxUploadBytes is answered 413.
func (h catalogImport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/catalog"
	if uploadTooLarge(r) {
		h.tooLarge(w, r)
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		h.redirect(w, r, back, "Error: choose a CSV or JSON file")
		return
	}
	defer f.Close()
	if hdr.Size > MaxUploadBytes {
		h.tooLarge(w, r)
		return
	}
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

// tooLarge answers 413 with the catalog page and a message naming the limit.
func (h catalogImport) tooLarge(w http.ResponseWriter, r *http.Request) {
	pg := storage.Page{Number: 1, Size: storage.DefaultPageSize}.Normalize()
	ps, more, err := h.Store.Products(r.Context(), "", pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	msg := "The file is larger than the upload limit of " + strconv.Itoa(MaxUploadBytes>>20) + " MiB; split the catalog into smaller files."
	h.render(w, r, "catalog", http.StatusRequestEntityTooLarge, view{Title: "Catalog", Error: msg, Page: pg, HasMore: more,
		Data: map[string]any{"Products": ps}})
}
