package ui

import (
	"net/http"
	"net/url"
	"strings"
)

type announcementCreate struct{ *UI }

// ServeHTTP broadcasts to all partners, or to the comma-separated partner
// ids given; ids that are no partner's are refused, named in the error,
// and nothing is sent.
func (h announcementCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/announcements"
	s, _ := sessionOf(r)
	title := strings.TrimSpace(r.PostFormValue("title"))
	body := strings.TrimSpace(r.PostFormValue("body"))
	// A refused form comes back as typed, on the page itself.
	refuse := func(msg string) {
		typed := url.Values{"title": {r.PostFormValue("title")}, "body": {r.PostFormValue("body")},
			"partner_ids": {r.PostFormValue("partner_ids")}}
		announcementList(h).serve(w, r, http.StatusUnprocessableEntity, "Error: "+msg, typed)
	}
	if title == "" || len(title) > 200 || body == "" || len(body) > 20000 {
		refuse("title (up to 200) and text (up to 20000 characters) are required")
		return
	}
	var ids []int64
	for _, f := range strings.FieldsFunc(r.PostFormValue("partner_ids"), func(c rune) bool { return c == ',' || c == ' ' }) {
		id, ok := parseID(f)
		if !ok {
			refuse("partner ids must be numbers separated by commas")
			return
		}
		ids = append(ids, id)
	}
	if _, err := h.Store.CreateAnnouncement(r.Context(), title, body, ids, s.User.ID); err != nil {
		if msg, ok := formError(err); ok {
			refuse(msg)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.redirect(w, r, back, "Announcement sent.")
}
