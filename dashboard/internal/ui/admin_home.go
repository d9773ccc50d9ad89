package ui

import "net/http"

type adminHome struct{ *UI }

func (h adminHome) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := h.Store.AdminCounts(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	p, err := h.Store.Program(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	charts, note := h.charts(ctx, "", p.Currency)
	h.render(w, r, "admin_home", http.StatusOK, view{Title: "Overview", Data: map[string]any{"Counts": c, "Charts": charts, "ChartNote": note}})
}
