package ui

import "net/http"

type announcementList struct{ *UI }

func (h announcementList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg := pageNumber(r)
	as, more, err := h.Store.Announcements(r.Context(), pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "announcement_list", http.StatusOK, view{Title: "Announcements", Page: pg, HasMore: more, Data: map[string]any{"Announcements": as}})
}
