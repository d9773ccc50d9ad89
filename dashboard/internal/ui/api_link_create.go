package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/events"
)

type apiLinkCreate struct{ *UI }

// ServeHTTP creates (or returns) a link of the logged-in partner to a shop
// URL: {"url"?,"product_id"?,"category_id"?}; without url, a product's
// catalog page or a category's shop page, as on the links page. The
// partner is always the session's; there is no partner field.
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
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			jsonError(w, http.StatusRequestEntityTooLarge, "body is larger than "+itoa(mbe.Limit)+" bytes", "body")
			return
		}
		jsonError(w, http.StatusBadRequest, "body must be a JSON object with url, product_id, category_id", "body")
		return
	}
	// Ids a click event cannot carry are refused naming the field (before
	// the catalog lookup: Postgres refuses a NUL, a 500).
	in.ProductID, in.CategoryID = strings.TrimSpace(in.ProductID), strings.TrimSpace(in.CategoryID)
	for _, id := range []struct{ field, v string }{{"product_id", in.ProductID}, {"category_id", in.CategoryID}} {
		if err := events.CheckOptionalID(id.field, id.v); err != nil {
			jsonError(w, http.StatusBadRequest, err.Error(), id.field)
			return
		}
	}
	// As the links page: without url, a product's page from the catalog
	// (and its category), a category's shop page.
	if strings.TrimSpace(in.URL) == "" && in.ProductID != "" {
		prod, err := h.Store.Product(r.Context(), in.ProductID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			h.jsonFail(w, r, err)
			return
		default:
			in.URL = prod.URL
			if in.CategoryID == "" {
				in.CategoryID = prod.CategoryID
			}
		}
		if in.URL == "" {
			jsonError(w, http.StatusBadRequest, "url is required: the catalog has no shop URL for product "+in.ProductID, "url")
			return
		}
	}
	if strings.TrimSpace(in.URL) == "" && in.CategoryID != "" {
		in.URL = h.Links.ShopURL(in.CategoryID)
	}
	target, err := h.Links.CheckTarget(in.URL)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "url "+err.Error(), "url")
		return
	}
	p, err := h.Store.Partner(r.Context(), s.User.PartnerID)
	if err != nil {
		h.jsonFail(w, r, err)
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
		ProductID: in.ProductID, CategoryID: in.CategoryID}, s.User.ID)
	if err != nil {
		h.jsonFail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, linkJSON{ID: l.ID, Code: l.Code, URL: h.Links.TrackingURL(l.Code), Target: l.TargetURL,
		ProductID: l.ProductID, CategoryID: l.CategoryID})
}

// jsonFail answers an error of the partner API in the API's error format
// {"error","field"}: a storage FieldError is 400, or 409/404 when it wraps
// ErrConflict/ErrNotFound, with its field; anything else is a logged 500.
func (u *UI) jsonFail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *storage.FieldError
	switch {
	case errors.As(err, &fe):
		jsonError(w, api.FieldErrorStatus(err), strings.TrimSpace(fe.Field+" "+fe.Msg), fe.Field)
	case errors.Is(err, storage.ErrNotFound):
		jsonError(w, http.StatusNotFound, "not found", "")
	case errors.Is(err, storage.ErrConflict):
		jsonError(w, http.StatusConflict, "conflict", "")
	default:
		u.Log.ErrorContext(r.Context(), "partner api request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		jsonError(w, http.StatusInternalServerError, "internal error", "")
	}
}
