package ui

import "net/http"

type announcementRead struct{ *UI }

// ServeHTTP marks one of the partner's announcements read.
func (h announcementRead) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/announcements"
	s, _ := sessionOf(r)
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := h.Store.MarkAnnouncementRead(r.Context(), s.User.PartnerID, id); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "")
}
