package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type linkList struct{ Deps }

// ServeHTTP lists a partner's links, newest first: the active ones, or
// with ?state=off the turned-off ones, ?state=all both; each with its state.
func (h *linkList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list := h.Store.Links
	switch r.URL.Query().Get("state") {
	case "", "active":
	case "off":
		list = h.Store.InactiveLinks
	case "all":
		list = h.Store.AllLinks
	default:
		h.fail(w, r, bad("state", "must be active, off or all"))
		return
	}
	if _, err := h.Store.Partner(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	ls, more, err := list(r.Context(), id, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]linkStateJSON, len(ls))
	for i, l := range ls {
		out[i] = h.linkStateToJSON(l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": out, "has_more": more})
}

func (d Deps) linkStateToJSON(l storage.Link) linkStateJSON {
	return linkStateJSON{linkJSON: d.linkToJSON(l), Active: l.Active, OffByAdmin: l.OffByAdmin}
}
