package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type bankShow struct{ *UI }

// ServeHTTP shows the bank details form: the stored details, or, right
// after a refused save, what the partner typed.
func (h bankShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	b, err := h.Store.BankAccount(r.Context(), s.User.PartnerID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if typed := h.keptForm(w, r, bankForm, r.URL.Path); typed != nil {
		b = storage.BankAccount{Holder: typed.Get("holder"), IBAN: typed.Get("iban"), BIC: typed.Get("bic")}
	}
	h.render(w, r, "partner_bank", http.StatusOK, view{Title: "Bank details", Data: map[string]any{"B": b}})
}
