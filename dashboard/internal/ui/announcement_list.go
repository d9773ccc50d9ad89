package ui

import (
	"net/http"
	"net/url"
)

type announcementList struct{ *UI }

func (h announcementList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, http.StatusOK, "", nil)
}

// serve renders the announcements page; a refused form comes back with
// status, the error as flash and what was typed (the text may be 20000
// characters: too long to keep in a cookie across a redirect).
func (h announcementList) serve(w http.ResponseWriter, r *http.Request, status int, flash string, typed url.Values) {
	pg := pageNumber(r)
	as, more, err := h.Store.Announcements(r.Context(), pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if typed == nil {
		typed = url.Values{}
	}
	h.render(w, r, "announcement_list", status, view{Title: "Announcements", Page: pg, HasMore: more, Flash: flash,
		Data: map[string]any{"Announcements": as, "Typed": typed}})
}
