package ui

import (
	"context"
	"errors"
	"net/http"
)

// errTooManyFailures reports a password check refused for the login rate
// limit (without checking the password).
var errTooManyFailures = errors.New("too many failed password checks")

// limitedCheck runs check, a password comparison that reports whether
// the attempt succeeded, under the login rate limit of email from
// ipPrefix (ui.go: per e-mail and prefix, per prefix, per e-mail). The
// attempt is stored as a failure before the limit is read and before
// check runs, and made a success after, so concurrent attempts on any
// number of dashboard processes count each other: at most the limit of
// them are checked. Over the limit the attempt is dropped again and
// limitedCheck returns errTooManyFailures without running check.
func (u *UI) limitedCheck(ctx context.Context, email, ipPrefix string, check func() bool) (bool, error) {
	a, err := u.Store.StartLoginAttempt(ctx, email, ipPrefix, u.Now().Add(-LoginWindow))
	if err != nil {
		return false, err
	}
	if a.ByPair >= MaxFailuresPerEmail || a.ByIP >= MaxFailuresPerIP || a.ByEmail >= MaxFailuresPerEmailAll {
		if err := u.Store.DropLoginAttempt(ctx, a); err != nil {
			return false, err
		}
		return false, errTooManyFailures
	}
	ok := check()
	if err := u.Store.FinishLoginAttempt(ctx, a, ok); err != nil {
		return false, err
	}
	return ok, nil
}

// tooManyFailures sets Retry-After for a refused password check and
// returns the message to show.
func tooManyFailures(w http.ResponseWriter) string {
	w.Header().Set("Retry-After", "900")
	return "Too many failed logins. Try again in 15 minutes."
}
