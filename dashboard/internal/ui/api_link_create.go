package ui

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type apiLinkCreate struct{ *UI }

// ServeHTTP creates (or returns) a link of the logged-in partner to a shop
// URL: {"url","product_id"?,"category_id"?}. The partner is always the
// session's; there is no partner field.
func (h apiLinkCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	var in struct {
		URL        string `json:"url"`
		ProductID  string `json:"product_id"`
		CategoryID string `json:"category_id"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		jsonError(w, http.StatusBadRequest, "body must be a JSON object with url, product_id, category_id", "body")
		return
	}
	target, err := h.Links.CheckTarget(in.URL)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "url "+err.Error(), "url")
		return
	}
	if len(in.ProductID) > 200 || len(in.CategoryID) > 200 {
		jsonError(w, http.StatusBadRequest, "product_id and category_id are at most 200 bytes", "product_id")
		return
	}
	p, err := h.Store.Partner(r.Context(), s.User.PartnerID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if p.Status != "active" {
		jsonError(w, http.StatusForbidden, "the account is suspended", "")
		return
	}
	kind := "deep"
	if in.ProductID != "" || in.CategoryID != "" {
		kind = "link"
	}
	l, created, err := h.Store.CreateLink(r.Context(), storage.Link{PartnerID: p.ID, Kind: kind, TargetURL: target,
		ProductID: strings.TrimSpace(in.ProductID), CategoryID: strings.TrimSpace(in.CategoryID)}, s.User.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, linkJSON{ID: l.ID, Code: l.Code, URL: h.Links.TrackingURL(l.Code), Target: l.TargetURL,
		ProductID: l.ProductID, CategoryID: l.CategoryID})
}
