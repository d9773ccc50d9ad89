// Package server wires the dashboard's HTTP handler: the admin JSON API,
// the panel and health checks on one ServeMux.
package server

import (
	"context"
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard"
	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/ui"
)

// New returns the dashboard's handler.
func New(a api.Deps, u *ui.UI) http.Handler {
	mux := http.NewServeMux()
	api.Register(mux, a)
	u.Register(mux)
	mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(dashboard.OpenAPI)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.Store.Ping(ctx); err != nil {
			http.Error(w, "postgres unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
