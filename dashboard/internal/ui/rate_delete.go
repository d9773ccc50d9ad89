package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type rateDelete struct{ *UI }

// ServeHTTP removes a program-wide product or category rate. A rate that
// is already gone (a double submit, another admin) is not an error.
func (h rateDelete) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, msg := rateForm(r)
	if msg != "" {
		h.redirect(w, r, ratesPage, "Error: "+msg)
		return
	}
	err := h.Store.UnsetRate(r.Context(), rt)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.redirect(w, r, ratesPage, "Rate already removed.")
	case err != nil:
		h.fail(w, r, ratesPage, err)
	default:
		h.redirect(w, r, ratesPage, "Rate removed.")
	}
}
