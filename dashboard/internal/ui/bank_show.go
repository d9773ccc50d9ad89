package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type bankShow struct{ *UI }

func (h bankShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	b, err := h.Store.BankAccount(r.Context(), s.User.PartnerID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_bank", http.StatusOK, view{Title: "Bank details", Data: map[string]any{"B": b}})
}
