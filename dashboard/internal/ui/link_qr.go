package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/qr"
)

type linkQR struct{ *UI }

// ServeHTTP renders a QR code (SVG) of one of the partner's own links;
// another partner's link id is a 404.
func (h linkQR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	l, err := h.Store.LinkOf(r.Context(), s.User.PartnerID, id)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	svg, err := qr.SVG(h.Links.TrackingURL(l.Code))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(svg)
}
