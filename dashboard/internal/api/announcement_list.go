package api

import (
	"net/http"
	"time"
)

type announcementList struct{ Deps }

func (h *announcementList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	as, more, err := h.Store.Announcements(r.Context(), pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]map[string]any, len(as))
	for i, a := range as {
		out[i] = map[string]any{"id": a.ID, "title": a.Title, "body": a.Body, "audience": a.Audience,
			"created_at": a.CreatedAt.UTC().Format(time.RFC3339)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"announcements": out, "has_more": more})
}
