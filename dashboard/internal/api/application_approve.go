package api

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type applicationApprove struct{ Deps }

// ServeHTTP approves an application: an active partner with the given
// slug (default: the applicant's wish) and a partner login.
func (h *applicationApprove) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Slug string `json:"slug"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	a, err := h.Store.Application(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	slug := strings.ToLower(strings.TrimSpace(in.Slug))
	if slug == "" {
		slug = a.SlugWish
	}
	if err := storage.ValidateSlug(slug); err != nil && a.Status == "pending" {
		h.fail(w, r, bad("slug", "%v", err))
		return
	}
	p, err := h.Store.ApproveApplication(r.Context(), id, 0, slug)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.partnerToJSON(p))
}
