package ui

import "net/http"

// linkSwitch turns a partner's link off or on again for the admin (the
// links section of the admin's partner page). A link the admin turned off
// stays off until the admin turns it on: the partner's own "turn on" is
// refused (storage.ActivateLink).
type linkSwitch struct {
	*UI
	on bool
}

func (h linkSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	partnerID, ok1 := parseID(r.PathValue("id"))
	linkID, ok2 := parseID(r.PathValue("link"))
	if !ok1 || !ok2 {
		http.NotFound(w, r)
		return
	}
	back := "/admin/partners/" + itoa(partnerID) + "#links"
	ctx := r.Context()
	if !h.on {
		if err := h.Store.DeactivateLink(ctx, partnerID, linkID, true); err != nil {
			h.fail(w, r, back, err)
			return
		}
		h.redirect(w, r, back, "Link turned off: its clicks go to the shop without crediting the partner, who cannot turn it on again.")
		return
	}
	l, ok := h.activateLink(w, r, back, partnerID, linkID, true)
	if !ok {
		return
	}
	h.redirect(w, r, back, "Link turned on: "+h.Links.TrackingURL(l.Code))
}
