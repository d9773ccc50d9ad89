package api

import (
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerCreate struct{ Deps }

type partnerJSON struct {
	ID          int64   `json:"id"`
	Name        string  `json:"name"`
	Email       string  `json:"email"`
	Slug        string  `json:"slug"`
	Status      string  `json:"status"`
	DefaultRate *string `json:"default_rate"`
	CustomerID  string  `json:"customer_id,omitempty"`
	SiteLink    string  `json:"site_link"`
	CreatedAt   string  `json:"created_at"`
}

func (d Deps) partnerToJSON(p storage.Partner) partnerJSON {
	out := partnerJSON{ID: p.ID, Name: p.Name, Email: p.Email, Slug: p.Slug, Status: p.Status,
		CustomerID: p.CustomerID, SiteLink: d.Links.SlugURL(p.Slug), CreatedAt: p.CreatedAt.UTC().Format(time.RFC3339)}
	if p.HasDefaultRate() {
		s := links.FormatRate(p.DefaultRateUPct)
		out.DefaultRate = &s
	}
	return out
}

// ValidatePartner checks the fields a person types for a partner and
// normalises the slug; shared with the UI forms.
func ValidatePartner(name, email, slug string) (string, error) {
	if n := strings.TrimSpace(name); n == "" || len(n) > 200 {
		return "", bad("name", "must be 1 to 200 characters")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != strings.TrimSpace(email) || len(email) > 320 {
		return "", bad("email", "is not an e-mail address")
	}
	slug = strings.ToLower(strings.TrimSpace(slug))
	if err := storage.ValidateSlug(slug); err != nil {
		return "", bad("slug", "%v", err)
	}
	return slug, nil
}

func (h *partnerCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        string  `json:"name"`
		Email       string  `json:"email"`
		Slug        string  `json:"slug"`
		DefaultRate *string `json:"default_rate"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	slug, err := ValidatePartner(in.Name, in.Email, in.Slug)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := storage.Partner{Name: in.Name, Email: in.Email, Slug: slug, DefaultRateUPct: -1}
	if in.DefaultRate != nil {
		if p.DefaultRateUPct, err = links.ParsePercent(*in.DefaultRate); err != nil {
			h.fail(w, r, bad("default_rate", "%v", err))
			return
		}
	}
	p, err = h.Store.CreatePartner(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/admin/partners/"+itoa(p.ID))
	writeJSON(w, http.StatusCreated, h.partnerToJSON(p))
}
