package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type customerShow struct{ *UI }

// ServeHTTP looks a customer up by id and shows its binding with the
// attach/detach forms.
func (h customerShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := trimMax(r.URL.Query().Get("customer_id"), 320)
	data := map[string]any{"CustomerID": id}
	if id != "" {
		// An e-mail finds the customer's id.
		switch cid, err := h.Store.CustomerID(r.Context(), id); {
		case err == nil:
			id = cid
			data["CustomerID"] = id
		case !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, err)
			return
		}
		b, err := h.Store.CurrentBinding(r.Context(), id)
		switch {
		case err == nil:
			data["Binding"] = b
		case !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, err)
			return
		}
	}
	h.render(w, r, "customer_show", http.StatusOK, view{Title: "Customers", Data: data})
}
