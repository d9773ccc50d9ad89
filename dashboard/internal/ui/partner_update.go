package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/links"
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
	p, err := h.Store.Partner(r.Context(), id)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	p.Name, p.Email = r.PostFormValue("name"), r.PostFormValue("email")
	if p.Slug, err = api.ValidatePartner(p.Name, p.Email, r.PostFormValue("slug")); err != nil {
		h.fail(w, r, back, err)
		return
	}
	switch st := r.PostFormValue("status"); st {
	case "active", "suspended":
		p.Status = st
	default:
		h.redirect(w, r, back, "Error: status must be active or suspended")
		return
	}
	p.DefaultRateUPct = -1
	if v := strings.TrimSpace(r.PostFormValue("default_rate")); v != "" {
		if p.DefaultRateUPct, err = links.ParsePercent(v); err != nil {
			h.redirect(w, r, back, "Error: default rate: "+err.Error())
			return
		}
	}
	p.Phone, p.Company, p.Website = trimMax(r.PostFormValue("phone"), 50), trimMax(r.PostFormValue("company"), 200), trimMax(r.PostFormValue("website"), 2048)
	p.CustomerID = trimMax(r.PostFormValue("customer_id"), 200)
	p.LandingURL = ""
	if v := strings.TrimSpace(r.PostFormValue("landing_url")); v != "" {
		if p.LandingURL, err = h.Links.CheckTarget(v); err != nil {
			h.redirect(w, r, back, "Error: landing URL "+err.Error())
			return
		}
	}
	if err := h.Store.UpdatePartner(r.Context(), p); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Partner saved.")
}

func trimMax(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
