package api

import "net/http"

type linkList struct{ Deps }

// ServeHTTP lists a partner's active links, newest first.
func (h *linkList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.Store.Partner(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	ls, more, err := h.Store.Links(r.Context(), id, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]linkJSON, len(ls))
	for i, l := range ls {
		out[i] = h.linkToJSON(l)
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": out, "has_more": more})
}
