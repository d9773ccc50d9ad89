package ui

import "net/http"

type partnerAnnouncements struct{ *UI }

// ServeHTTP lists the announcements addressed to the partner; unread ones
// are marked.
func (h partnerAnnouncements) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	as, more, err := h.Store.PartnerAnnouncements(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_announcements", http.StatusOK, view{Title: "Announcements", Page: pg, HasMore: more, Data: map[string]any{"Announcements": as}})
}
