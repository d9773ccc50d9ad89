package ui

import (
	"net/http"
	"slices"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type runList struct{ *UI }

// runJobs are the settler's jobs (settler/internal/app), for the filter.
var runJobs = []string{"settle", "auto_approve", "release_reserves", "relay_outbox"}

// ServeHTTP lists the settler's job runs, newest first, by job and
// failed only when asked.
func (h runList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := storage.RunFilter{Job: q.Get("job"), Failed: q.Get("failed") == "1"}
	if f.Job != "" && !slices.Contains(runJobs, f.Job) {
		http.Error(w, "job: must be one of settle, auto_approve, release_reserves, relay_outbox", http.StatusBadRequest)
		return
	}
	pg := pageNumber(r)
	rs, more, err := h.Store.SettlementRuns(r.Context(), f, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "run_list", http.StatusOK, view{Title: "Settlement runs", Page: pg, HasMore: more,
		Data: map[string]any{"Runs": rs, "Jobs": runJobs, "Job": f.Job, "Failed": f.Failed}})
}
