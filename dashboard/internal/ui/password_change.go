package ui

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type passwordChange struct{ *UI }

// ServeHTTP changes the logged-in admin's or partner's password: the
// current one (checked under the login rate limit, login_limit.go, as a
// login of the user's e-mail would be) and the new one twice, of the length the
// admin's "Set login password" requires, hashed at the configured cost.
// The user's other sessions end; this one stays. A refused form
// changes nothing and names the field.
func (h passwordChange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	current := r.PostFormValue("current_password")
	newPassword := r.PostFormValue("new_password")
	again := func(status int, msg string) {
		h.render(w, r, "password", status, passwordView(r, msg))
	}
	switch {
	case current == "":
		again(http.StatusBadRequest, "current password: enter your current password")
		return
	case len(newPassword) < auth.MinPasswordLen || len(newPassword) > auth.MaxPasswordLen:
		again(http.StatusBadRequest, "new password: must be "+strconv.Itoa(auth.MinPasswordLen)+" to "+
			strconv.Itoa(auth.MaxPasswordLen)+" characters")
		return
	case r.PostFormValue("new_password_repeat") != newPassword:
		again(http.StatusBadRequest, "repeat new password: does not match the new password")
		return
	case newPassword == current:
		again(http.StatusBadRequest, "new password: is the current password")
		return
	}
	ok, err := h.limitedCheck(r.Context(), s.User.Email, auth.IPPrefix(r.RemoteAddr), func() bool {
		return h.Hasher.Check(s.User.PasswordHash, current)
	})
	if errors.Is(err, errTooManyFailures) {
		again(http.StatusTooManyRequests, tooManyFailures(w))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !ok {
		again(http.StatusBadRequest, "current password: is wrong")
		return
	}
	hash, err := h.Hasher.Hash(newPassword)
	if err != nil {
		h.serverError(w, r, err) // the length was checked above
		return
	}
	err = h.Store.ChangePassword(r.Context(), s.User.ID, s.User.PasswordHash, hash, s.TokenHash)
	var fe *storage.FieldError
	if errors.As(err, &fe) {
		again(http.StatusConflict, fe.Error())
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, passwordPath(r), "Password changed. Your other sessions are logged out.")
}
