package ui

import (
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerLoginSet struct{ *UI }

// ServeHTTP gives a partner created by the admin (API or form) a login
// with the partner's e-mail, or sets a new password for it; the admin tells
// the partner the password out of band.
func (h partnerLoginSet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(id)
	ctx := r.Context()
	p, err := h.Store.Partner(ctx, id)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	hash, err := h.Hasher.Hash(r.PostFormValue("password"))
	if err != nil {
		h.redirect(w, r, back, "Error: password must be 10 to 72 characters")
		return
	}
	// The partner's login is found by partner, not by e-mail: its e-mail
	// follows the partner's (storage.UpdatePartner), and a second login
	// for one partner is never made.
	u, err := h.Store.UserByPartner(ctx, p.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, err = h.Store.CreatePartnerUser(ctx, p.ID, p.Email, hash)
		if errors.Is(err, storage.ErrConflict) {
			h.redirect(w, r, back, "Error: that e-mail belongs to another login")
			return
		}
	case err == nil:
		err = h.Store.SetPassword(ctx, u.ID, hash)
	}
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Login saved: "+p.Email+" can log in with the new password.")
}
