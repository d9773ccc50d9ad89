package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/links"
)

type partnerUpdate struct{ Deps }

// ServeHTTP changes any of name, email, slug, status, default_rate (null
// = program default) and customer_id of a partner.
func (h *partnerUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Name        *string         `json:"name"`
		Email       *string         `json:"email"`
		Slug        *string         `json:"slug"`
		Status      *string         `json:"status"`
		DefaultRate json.RawMessage `json:"default_rate"`
		CustomerID  *string         `json:"customer_id"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.Store.Partner(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Email != nil {
		p.Email = *in.Email
	}
	if in.Slug != nil {
		p.Slug = *in.Slug
	}
	if p.Slug, err = ValidatePartner(p.Name, p.Email, p.Slug); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Status != nil {
		if *in.Status != "active" && *in.Status != "suspended" {
			h.fail(w, r, bad("status", "must be active or suspended"))
			return
		}
		p.Status = *in.Status
	}
	if len(in.DefaultRate) > 0 {
		p.DefaultRateUPct = -1
		if string(in.DefaultRate) != "null" {
			var s string
			if err := json.Unmarshal(in.DefaultRate, &s); err != nil {
				h.fail(w, r, bad("default_rate", "must be a decimal string or null"))
				return
			}
			if p.DefaultRateUPct, err = links.ParsePercent(s); err != nil {
				h.fail(w, r, bad("default_rate", "%v", err))
				return
			}
		}
	}
	if in.CustomerID != nil {
		if len(*in.CustomerID) > 200 {
			h.fail(w, r, bad("customer_id", "is longer than 200 bytes"))
			return
		}
		p.CustomerID = strings.TrimSpace(*in.CustomerID)
	}
	if err := h.Store.UpdatePartner(r.Context(), p); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.partnerToJSON(p))
}
