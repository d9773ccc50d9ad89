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
		if a.Audience != "all" {
			// The first storage.ShownRecipients partner ids, and how many
			// there are in all.
			ids := make([]int64, len(a.Recipients))
			for j, p := range a.Recipients {
				ids[j] = p.ID
			}
			out[i]["partner_ids"], out[i]["recipient_count"] = ids, a.RecipientCount
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"announcements": out, "has_more": more})
}
