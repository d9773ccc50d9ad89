package ui

import "net/http"

type linkActivate struct{ *UI }

// ServeHTTP turns one of the partner's own turned-off links on again, so
// that a link turned off by mistake (and every copy already shared) credits
// the partner again; another partner's link id is "not found" (a bad id a
// 404). It respects the active-link cap like a new link
// (storage.ActivateLink).
func (h linkActivate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/partner/links/off"
	s, _ := sessionOf(r)
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	p, err := h.Store.Partner(ctx, s.User.PartnerID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if p.Status != "active" {
		h.redirect(w, r, back, "Error: your account is suspended; links cannot be turned on")
		return
	}
	l, err := h.Store.LinkOf(ctx, s.User.PartnerID, id)
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	// The allowed hosts may have changed since the link was made: the
	// tracker would send such a link to the shop untracked.
	if _, err := h.Links.CheckTarget(l.TargetURL); err != nil {
		h.redirect(w, r, back, "Error: this link cannot be turned on: its target "+err.Error())
		return
	}
	if l, err = h.Store.ActivateLink(ctx, s.User.PartnerID, id, false); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, "/partner/links?new="+itoa(l.ID), "Link turned on again: "+h.Links.TrackingURL(l.Code))
}

type partnerLinksOff struct{ *UI }

// ServeHTTP lists the partner's turned-off links, newest first, each with a
// button to turn it on again.
func (h partnerLinksOff) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	ls, more, err := h.Store.InactiveLinks(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_links", http.StatusOK, view{Title: "Turned-off links", Page: pg, HasMore: more,
		Data: map[string]any{"Off": true, "Links": ls, "Maker": h.Links}})
}
