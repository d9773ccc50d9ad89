package api

import (
	"net/http"
	"strconv"
)

type partnerGet struct{ Deps }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (h *partnerGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.Store.Partner(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.partnerToJSON(p))
}
