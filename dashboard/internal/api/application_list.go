package api

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type applicationList struct{ Deps }

type applicationJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	SlugWish  string `json:"slug_wish,omitempty"`
	Website   string `json:"website,omitempty"`
	Message   string `json:"message,omitempty"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	PartnerID int64  `json:"partner_id,omitempty"`
	CreatedAt string `json:"created_at"`
}

func applicationToJSON(a storage.Application) applicationJSON {
	return applicationJSON{ID: a.ID, Name: a.Name, Email: a.Email, SlugWish: a.SlugWish, Website: a.Website,
		Message: a.Message, Status: a.Status, Reason: a.Reason, PartnerID: a.PartnerID, CreatedAt: a.CreatedAt.UTC().Format(time.RFC3339)}
}

func (h *applicationList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	as, more, err := h.Store.Applications(r.Context(), r.URL.Query().Get("status"), pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]applicationJSON, len(as))
	for i, a := range as {
		out[i] = applicationToJSON(a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"applications": out, "has_more": more})
}
