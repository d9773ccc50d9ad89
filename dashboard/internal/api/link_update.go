package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type linkUpdate struct{ Deps }

// linkStateJSON is a link with its state, as PATCH answers it.
type linkStateJSON struct {
	linkJSON
	Active     bool `json:"active"`
	OffByAdmin bool `json:"off_by_admin"`
}

// ServeHTTP turns a partner's link off or on again: {"active": bool}. A
// link the admin turned off stays off until the admin turns it on (the
// partner's own turn-on is refused). A repeat answers the link as it is.
func (h *linkUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	partnerID, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	linkID, err := pathID(r, "link_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Active *bool `json:"active"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Active == nil {
		h.fail(w, r, bad("active", "is required (true or false)"))
		return
	}
	ctx := r.Context()
	l, err := h.Store.LinkOf(ctx, partnerID, linkID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case !*in.Active:
		if err := h.Store.DeactivateLink(ctx, partnerID, linkID, true); err != nil {
			h.fail(w, r, err)
			return
		}
		l.Active, l.OffByAdmin = false, true
	case *in.Active && !l.Active:
		// The allowed hosts may have changed since the link was made.
		if _, err := h.Links.CheckTarget(l.TargetURL); err != nil {
			h.fail(w, r, &storage.FieldError{Field: "active", Msg: "cannot be true: the link's target " + err.Error(), Err: storage.ErrConflict})
			return
		}
		if l, err = h.Store.ActivateLink(ctx, partnerID, linkID, true); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, h.linkStateToJSON(l))
}
