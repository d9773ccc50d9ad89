package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/events"
)

type partnerUpdate struct{ *UI }

// ServeHTTP saves the profile: name, contact, slug (custom site link,
// unique and not reserved), status and default rate.
func (h partnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(id)
	var msg string
	_, err := h.Store.ModifyPartner(r.Context(), id, func(p *storage.Partner) error {
		// The form holds every field: saved over a change made since the
		// page was loaded (another admin's suspension, say), it would put
		// the old values back. Refused instead (409 on version).
		if v := r.PostFormValue("version"); v != "" && v != p.Version() {
			return storage.ErrPartnerChanged
		}
		msg = h.applyForm(r, p)
		if msg != "" {
			return errFormRefused
		}
		return nil
	})
	if errors.Is(err, errFormRefused) {
		h.redirect(w, r, back, "Error: "+msg)
		return
	}
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Partner saved.")
}

// formID reads an id (an order's, a product's, a category's) from a form
// field: trimmed, and refused with a message naming label when longer than
// maxIDChars characters — an id is never cut, which would name another.
func formID(r *http.Request, field, label string) (string, string) {
	v, msg := formText(r, field, label, maxIDChars)
	if msg != "" {
		return "", msg
	}
	// As pkg/events checks an id: no control characters (Postgres refuses
	// a NUL, which was a 500 on the links page), not only spaces.
	if err := events.CheckOptionalID(field, v); err != nil {
		return "", err.Error()
	}
	return v, ""
}

// formText reads a form field, trimmed; longer than limit characters, it
// is refused ("" and a message naming label), never cut.
func formText(r *http.Request, field, label string, limit int) (string, string) {
	v := strings.TrimSpace(r.PostFormValue(field))
	if n := utf8.RuneCountInString(v); n > limit {
		return "", fmt.Sprintf("%s: is %d characters long, at most %d are allowed", label, n, limit)
	}
	return v, ""
}

// trimMax trims spaces and cuts s to at most n bytes, at a character
// boundary (a cut inside a UTF-8 sequence would be refused by Postgres).
// Use it only where cutting is harmless (free-text notes), never for ids.
func trimMax(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// errFormRefused stops ModifyPartner when the form does not validate.
var errFormRefused = errors.New("form refused")

// applyForm applies the profile form to p and returns what is wrong with
// it, or "".
func (h partnerUpdate) applyForm(r *http.Request, p *storage.Partner) string {
	p.Name, p.Email = r.PostFormValue("name"), r.PostFormValue("email")
	var err error
	if p.Slug, err = api.ValidatePartner(p.Name, p.Email, r.PostFormValue("slug")); err != nil {
		m, _ := formError(err) // always a field error
		return m
	}
	switch st := r.PostFormValue("status"); st {
	case "active", "suspended":
		p.Status = st
	default:
		return "status must be active or suspended"
	}
	p.DefaultRateUPct = -1
	if v := strings.TrimSpace(r.PostFormValue("default_rate")); v != "" {
		if p.DefaultRateUPct, err = links.ParsePercent(v); err != nil {
			return "default rate: " + err.Error()
		}
	}
	// Too long is refused, never cut: a cut value would be saved as if the
	// admin had typed it. The limits are the columns' (characters).
	for _, f := range []struct {
		name, label string
		max         int
		dst         *string
	}{{"phone", "phone", 50, &p.Phone}, {"company", "company", 200, &p.Company}, {"website", "website", 2048, &p.Website},
		{"customer_id", "own customer id", maxIDChars, &p.CustomerID}} {
		v, msg := formText(r, f.name, f.label, f.max)
		if msg != "" {
			return msg
		}
		*f.dst = v
	}
	p.LandingURL = ""
	if v := strings.TrimSpace(r.PostFormValue("landing_url")); v != "" {
		if p.LandingURL, err = h.Links.CheckTarget(v); err != nil {
			return "landing URL " + err.Error()
		}
	}
	return ""
}
