// Package api is the admin JSON API of DESIGN §4.4 under /api/admin,
// authenticated with the AFF_ADMIN_TOKEN bearer token. Amounts and rates
// are decimal strings, durations Go duration strings, errors
// {"error": "...", "field": "..."}.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// RequestTimeout bounds the database work of one API request.
const RequestTimeout = 30 * time.Second

// Deps are what the API handlers need.
type Deps struct {
	Store  *storage.Storage
	Ledger *ledger.Ledger
	Links  links.Maker
	// Token is AFF_ADMIN_TOKEN; an empty token refuses every request.
	Token string
	Log   *slog.Logger
}

// Route is one registered endpoint (also checked against openapi.yaml).
type Route struct {
	Method  string
	Path    string // ServeMux pattern path, e.g. /api/admin/partners/{id}
	Handler http.Handler
}

// Routes returns every endpoint of the admin API.
func Routes(d Deps) []Route {
	return []Route{
		{"GET", "/api/admin/program", &programGet{d}},
		{"PUT", "/api/admin/program", &programUpdate{d}},
		{"GET", "/api/admin/rates", &rateList{d}},
		{"PUT", "/api/admin/rates", &rateSet{d}},
		{"DELETE", "/api/admin/rates", &rateDelete{d}},
		{"GET", "/api/admin/partners", &partnerList{d}},
		{"POST", "/api/admin/partners", &partnerCreate{d}},
		{"GET", "/api/admin/partners/{id}", &partnerGet{d}},
		{"PATCH", "/api/admin/partners/{id}", &partnerUpdate{d}},
		{"GET", "/api/admin/partners/{id}/links", &linkList{d}},
		{"POST", "/api/admin/partners/{id}/links", &linkCreate{d}},
		{"PATCH", "/api/admin/partners/{id}/links/{link_id}", &linkUpdate{d}},
		{"GET", "/api/admin/partners/{id}/balance", &balanceGet{d}},
		{"POST", "/api/admin/partners/{id}/adjustments", &adjustmentCreate{d}},
		{"POST", "/api/admin/partners/{id}/penalties", &penaltyCreate{d}},
		{"GET", "/api/admin/orders", &orderList{d}},
		{"POST", "/api/admin/orders", &orderCreate{d}},
		{"GET", "/api/admin/orders/{order_id}", &orderGet{d}},
		{"POST", "/api/admin/orders/{order_id}/partner", &orderPartnerAttach{d}},
		{"DELETE", "/api/admin/orders/{order_id}/partner", &orderPartnerRemove{d}},
		{"GET", "/api/admin/customers/{customer_id}/partner", &customerPartnerGet{d}},
		{"POST", "/api/admin/customers/{customer_id}/partner", &customerPartnerAttach{d}},
		{"DELETE", "/api/admin/customers/{customer_id}/partner", &customerPartnerDetach{d}},
		{"GET", "/api/admin/commissions", &commissionList{d}},
		{"POST", "/api/admin/commissions/approve", &commissionApprove{d}},
		{"GET", "/api/admin/applications", &applicationList{d}},
		{"POST", "/api/admin/applications/{id}/approve", &applicationApprove{d}},
		{"POST", "/api/admin/applications/{id}/reject", &applicationReject{d}},
		{"GET", "/api/admin/payouts", &payoutList{d}},
		{"POST", "/api/admin/payouts/{id}/paid", &payoutMark{d, true}},
		{"POST", "/api/admin/payouts/{id}/failed", &payoutMark{d, false}},
		{"GET", "/api/admin/store-credits", &storeCreditList{d}},
		{"POST", "/api/admin/store-credits/{id}/approve", &storeCreditDecide{d, true}},
		{"POST", "/api/admin/store-credits/{id}/reject", &storeCreditDecide{d, false}},
		{"GET", "/api/admin/announcements", &announcementList{d}},
		{"POST", "/api/admin/announcements", &announcementCreate{d}},
	}
}

// Register adds every route to mux behind the bearer check.
func Register(mux *http.ServeMux, d Deps) {
	allowed := map[string][]string{}
	var paths []string
	for _, r := range Routes(d) {
		mux.Handle(r.Method+" "+r.Path, requireToken(d.Token, r.Handler))
		if allowed[r.Path] == nil {
			paths = append(paths, r.Path)
		}
		allowed[r.Path] = append(allowed[r.Path], r.Method)
	}
	// Another method on a known path: a JSON 405 (ServeMux's own is text).
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		mux.Handle(p, requireToken(d.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed (allowed: "+allow+")", "")
		})))
	}
	// Unknown paths under the API answer JSON too, after the token check
	// (so the route list does not leak to anonymous callers).
	mux.Handle("/api/", requireToken(d.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint", "")
	})))
}

func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !auth.BearerMatches(r.Header.Get("Authorization"), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="admin api"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token", "Authorization")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, errorBody{Error: msg, Field: field})
}

// badRequest is a 400 naming a field.
type badRequest struct{ field, msg string }

func (e *badRequest) Error() string { return e.field + ": " + e.msg }

// BadRequestMessage returns the message of a validation error made by this
// package (the UI shows it next to the form).
func BadRequestMessage(err error) (string, bool) {
	var br *badRequest
	if errors.As(err, &br) {
		return br.field + " " + br.msg, true
	}
	return "", false
}

func bad(field, format string, args ...any) error {
	return &badRequest{field: field, msg: fmt.Sprintf(format, args...)}
}

// fail maps an error to its status code and writes it.
func (d Deps) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	var fe *storage.FieldError
	var le *ledger.FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.field+" "+br.msg, br.field)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes), "")
	case errors.As(err, &fe):
		writeError(w, FieldErrorStatus(err), strings.TrimSpace(fe.Field+" "+fe.Msg), fe.Field)
	case errors.As(err, &le):
		writeError(w, http.StatusBadRequest, le.Error(), strings.ToLower(le.Field))
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found", "")
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "")
	default:
		d.Log.ErrorContext(r.Context(), "admin api request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal error", "")
	}
}

// decode reads a JSON object body into v, refusing unknown fields and
// trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return bad(ute.Field, "has the wrong type (want %s)", ute.Type)
		}
		if errors.Is(err, io.EOF) {
			return bad("body", "is empty (want a JSON object)")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return bad(strings.Trim(f, `"`), "is not a known field")
		}
		return bad("body", "is not valid JSON: %v", err)
	}
	if dec.More() {
		return bad("body", "has data after the JSON object")
	}
	return nil
}

// pathID parses a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, bad(name, "must be a positive integer")
	}
	return id, nil
}

// pathText returns a text path value of at most 200 bytes.
func pathText(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if v == "" || len(v) > 200 {
		return "", bad(name, "must be 1 to 200 bytes")
	}
	return v, nil
}

// parseID parses an id given as a JSON number or a numeric string.
func parseID(field string, raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, bad(field, "is required")
	}
	s := string(raw)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad(field, "must be a positive integer")
	}
	return n, nil
}

// idempotencyKey returns the caller's Idempotency-Key header, or a fresh
// random key (then a retry is a new request).
func idempotencyKey(r *http.Request, kind string) (string, error) {
	k := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if k == "" {
		return kind + ":api:" + auth.NewToken(), nil
	}
	if len(k) > 150 {
		return "", bad("Idempotency-Key", "is longer than 150 bytes")
	}
	return kind + ":api:" + k, nil
}

func pageOf(r *http.Request) storage.Page {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	return storage.Page{Number: n, Size: size}.Normalize()
}

// FieldErrorStatus is the HTTP status of a storage error naming a field:
// 409 when it is a conflict, 404 when something it names does not exist,
// else 400.
func FieldErrorStatus(err error) int {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}
