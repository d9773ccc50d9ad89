package api

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type linkCreate struct{ Deps }

type linkJSON struct {
	ID         int64  `json:"id"`
	Code       string `json:"code"`
	URL        string `json:"url"`
	Target     string `json:"target"`
	Kind       string `json:"kind"`
	ProductID  string `json:"product_id,omitempty"`
	CategoryID string `json:"category_id,omitempty"`
}

func (d Deps) linkToJSON(l storage.Link) linkJSON {
	return linkJSON{ID: l.ID, Code: l.Code, URL: d.Links.TrackingURL(l.Code), Target: l.TargetURL, Kind: l.Kind,
		ProductID: l.ProductID, CategoryID: l.CategoryID}
}

func (h *linkCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		URL        string `json:"url"`
		ProductID  string `json:"product_id"`
		CategoryID string `json:"category_id"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	target, err := h.Links.CheckTarget(in.URL)
	if err != nil {
		h.fail(w, r, bad("url", "%v", err))
		return
	}
	if _, err := h.Store.Partner(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	kind := "deep"
	if in.ProductID != "" || in.CategoryID != "" {
		kind = "link"
	}
	l, created, err := h.Store.CreateLink(r.Context(), storage.Link{PartnerID: id, Kind: kind, TargetURL: target,
		ProductID: strings.TrimSpace(in.ProductID), CategoryID: strings.TrimSpace(in.CategoryID)}, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK // an existing link to the same target is returned
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, h.linkToJSON(l))
}
