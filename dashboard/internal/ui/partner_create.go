package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerCreate struct{ *UI }

func (h partnerCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, email := r.PostFormValue("name"), r.PostFormValue("email")
	slug, err := api.ValidatePartner(name, email, r.PostFormValue("slug"))
	if err != nil {
		h.fail(w, r, "/admin/partners", err)
		return
	}
	p := storage.Partner{Name: name, Email: email, Slug: slug, DefaultRateUPct: -1}
	if v := r.PostFormValue("default_rate"); v != "" {
		if p.DefaultRateUPct, err = links.ParsePercent(v); err != nil {
			h.redirect(w, r, "/admin/partners", "Error: default rate: "+err.Error())
			return
		}
	}
	p, err = h.Store.CreatePartner(r.Context(), p)
	if err != nil {
		h.fail(w, r, "/admin/partners", err)
		return
	}
	h.redirect(w, r, "/admin/partners/"+itoa(p.ID), "Partner created.")
}
