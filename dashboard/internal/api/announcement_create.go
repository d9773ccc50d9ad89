package api

import (
	"net/http"
	"strings"
)

type announcementCreate struct{ Deps }

// ServeHTTP broadcasts an announcement to every partner, or to
// {"partner_ids"} only. An id that is no partner's is a 400 on
// partner_ids naming it, and nothing is sent.
func (h *announcementCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title      string  `json:"title"`
		Body       string  `json:"body"`
		PartnerIDs []int64 `json:"partner_ids"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" || len(in.Title) > 200 {
		h.fail(w, r, bad("title", "must be 1 to 200 bytes"))
		return
	}
	if strings.TrimSpace(in.Body) == "" || len(in.Body) > 20000 {
		h.fail(w, r, bad("body", "must be 1 to 20000 bytes"))
		return
	}
	id, err := h.Store.CreateAnnouncement(r.Context(), in.Title, in.Body, in.PartnerIDs, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id})
}
