package ui

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type customerClaim struct{ *UI }

// ServeHTTP links an unbound customer to the partner by e-mail. Unknown
// and already-bound customers get the same answer, so a partner cannot
// learn who is bound to whom.
func (h customerClaim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/customers"
	s, _ := sessionOf(r)
	email := strings.TrimSpace(r.PostFormValue("email"))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		h.redirect(w, r, back, "Error: enter the customer's e-mail address")
		return
	}
	_, err := h.Store.ClaimCustomer(r.Context(), s.User.PartnerID, s.User.ID, email)
	var fe *storage.FieldError
	switch {
	case err == nil:
		h.redirect(w, r, back, "Customer linked to you.")
	case errors.As(err, &fe):
		h.redirect(w, r, back, "Error: "+fe.Msg)
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		h.redirect(w, r, back, "Error: no unbound customer with that e-mail")
	default:
		h.serverError(w, r, err)
	}
}
