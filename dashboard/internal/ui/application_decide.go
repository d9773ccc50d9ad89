package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type applicationDecide struct {
	*UI
	approve bool
}

// ServeHTTP approves an application (with the slug the admin confirms) or
// rejects it with a reason.
func (h applicationDecide) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s, _ := sessionOf(r)
	const back = "/admin/applications"
	if !h.approve {
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		if reason == "" || len(reason) > 2000 {
			h.redirect(w, r, back, "Error: give a reason (up to 2000 characters)")
			return
		}
		if err := h.Store.RejectApplication(r.Context(), id, s.User.ID, reason); err != nil {
			h.fail(w, r, back, err)
			return
		}
		h.redirect(w, r, back, "Application rejected.")
		return
	}
	slug := strings.ToLower(strings.TrimSpace(r.PostFormValue("slug")))
	if err := storage.ValidateSlug(slug); err != nil {
		h.redirect(w, r, back, "Error: slug "+err.Error())
		return
	}
	p, err := h.Store.ApproveApplication(r.Context(), id, s.User.ID, slug)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Approved: "+p.Name+" can now log in.")
}
