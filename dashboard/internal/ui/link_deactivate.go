package ui

import "net/http"

type linkDeactivate struct{ *UI }

// ServeHTTP turns off one of the partner's own links (the tracker stops
// crediting it, and sends its clicks to the shop untracked); another
// partner's link id is "not found". The page asks for confirmation first
// (data-confirm, static/app.js) and linkActivate undoes it.
func (h linkDeactivate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/links"
	s, _ := sessionOf(r)
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := h.Store.DeactivateLink(r.Context(), s.User.PartnerID, id, false); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Link turned off. To undo, turn it on again under Turned-off links.")
}
