package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type applySubmit struct{ *UI }

// ServeHTTP stores a partner application with the applicant's chosen
// password (hashed); the admin approves it later. The password is hashed
// for every valid form, so an e-mail with a login takes as long as a new
// one.
func (h applySubmit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := map[string]any{}
	for _, k := range []string{"name", "email", "slug", "website", "message"} {
		f[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	again := func(status int, msg string) {
		h.render(w, r, "apply", status, view{Title: "Apply", Error: msg, Data: f})
	}
	a := storage.Application{Name: f["name"].(string), Email: f["email"].(string), Website: f["website"].(string), Message: f["message"].(string)}
	slug, err := api.ValidatePartner(a.Name, a.Email, f["slug"].(string))
	if err != nil {
		msg, _ := api.BadRequestMessage(err)
		again(http.StatusBadRequest, msg)
		return
	}
	a.SlugWish = slug
	if len(a.Message) > 5000 || len(a.Website) > 2048 {
		again(http.StatusBadRequest, "message or website is too long")
		return
	}
	if !h.applyLimit.allow(auth.IPPrefix(r.RemoteAddr), h.Now()) {
		w.Header().Set("Retry-After", "900")
		again(http.StatusTooManyRequests, "Too many applications from your network. Try again in 15 minutes.")
		return
	}
	hash, err := h.Hasher.Hash(r.PostFormValue("password"))
	if err != nil {
		again(http.StatusBadRequest, "password must be 10 to 72 characters")
		return
	}
	// An e-mail that has a login gets the same answer as a new one, and
	// nothing is stored: the form must not tell who has an account (the
	// login form does not either).
	if _, err := h.Store.CreateApplication(r.Context(), a, hash); err != nil && !errors.Is(err, storage.ErrHasAccount) {
		if msg, ok := formError(err); ok {
			again(http.StatusConflict, msg)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, "/login", "Thank you! Your application was received. You can log in once it is approved.")
}
