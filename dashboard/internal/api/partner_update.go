package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
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
	var in partnerPatch
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	// The patch applies to the partner as it is when the change commits
	// (locked): a concurrent change of other fields stays.
	p, err := h.Store.ModifyPartner(r.Context(), id, in.apply)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.partnerToJSON(p))
}

// partnerPatch is the body of PATCH /api/admin/partners/{id}: the fields
// present change, the others keep their value.
type partnerPatch struct {
	Name        *string         `json:"name"`
	Email       *string         `json:"email"`
	Slug        *string         `json:"slug"`
	Status      *string         `json:"status"`
	DefaultRate json.RawMessage `json:"default_rate"`
	CustomerID  *string         `json:"customer_id"`
}

// apply validates the patch and applies it to p.
func (pp *partnerPatch) apply(p *storage.Partner) error {
	if pp.Name != nil {
		p.Name = *pp.Name
	}
	if pp.Email != nil {
		p.Email = *pp.Email
	}
	if pp.Slug != nil {
		p.Slug = *pp.Slug
	}
	var err error
	if p.Slug, err = ValidatePartner(p.Name, p.Email, p.Slug); err != nil {
		return err
	}
	if pp.Status != nil {
		if *pp.Status != "active" && *pp.Status != "suspended" {
			return bad("status", "must be active or suspended")
		}
		p.Status = *pp.Status
	}
	if len(pp.DefaultRate) > 0 {
		p.DefaultRateUPct = -1
		if string(pp.DefaultRate) != "null" {
			var s string
			if err := json.Unmarshal(pp.DefaultRate, &s); err != nil {
				return bad("default_rate", "must be a decimal string or null")
			}
			if p.DefaultRateUPct, err = links.ParsePercent(s); err != nil {
				return bad("default_rate", "%v", err)
			}
		}
	}
	if pp.CustomerID != nil {
		if len(*pp.CustomerID) > 200 {
			return bad("customer_id", "is longer than 200 bytes")
		}
		p.CustomerID = strings.TrimSpace(*pp.CustomerID)
	}
	return nil
}
