package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

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
	l, ok := h.activateLink(w, r, back, s.User.PartnerID, id, false)
	if !ok {
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

// activateLink turns a partner's link on again, for the partner or the
// admin (byAdmin), once its target is still allowed: the allowed hosts may
// have changed since the link was made, and the tracker would send such a
// link to the shop untracked. On a refusal or an error it answers (back to
// back) and reports false.
func (u *UI) activateLink(w http.ResponseWriter, r *http.Request, back string, partnerID, linkID int64, byAdmin bool) (storage.Link, bool) {
	ctx := r.Context()
	l, err := u.Store.LinkOf(ctx, partnerID, linkID)
	if err != nil {
		u.fail(w, r, back, err)
		return l, false
	}
	if _, err := u.Links.CheckTarget(l.TargetURL); err != nil {
		u.redirect(w, r, back, "Error: this link cannot be turned on: its target "+err.Error())
		return l, false
	}
	if l, err = u.Store.ActivateLink(ctx, partnerID, linkID, byAdmin); err != nil {
		u.fail(w, r, back, err)
		return l, false
	}
	return l, true
}
