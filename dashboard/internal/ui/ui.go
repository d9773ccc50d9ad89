// Package ui is the server-rendered admin and partner panel: one handler
// per file (<noun>_<verb>.go), templates embedded and parsed at start,
// sessions in Postgres, a CSRF token on every form, POST then redirect.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/reports"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/money"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Limits of the panel.
const (
	// SessionTTL is how long a login lasts.
	SessionTTL = 12 * time.Hour
	// MaxFormBytes bounds a form body (the catalog upload has its own limit).
	MaxFormBytes = 64 << 10
	// MaxAPIBodyBytes bounds the JSON body of a partner API request.
	MaxAPIBodyBytes = 64 << 10
	// MaxUploadBytes bounds a catalog file.
	MaxUploadBytes = 8 << 20
	// LoginWindow is the period over which failed logins are counted.
	LoginWindow = 15 * time.Minute
	// RequestTimeout bounds the database work of one page (the CSV export,
	// which streams up to a million rows, has ExportTimeout).
	RequestTimeout = 30 * time.Second
	ExportTimeout  = 10 * time.Minute
	// Failed logins allowed per LoginWindow before further attempts are
	// refused: for one e-mail from one address prefix, for one prefix, and
	// for one e-mail from anywhere. The first is the guessing limit; the
	// last is far higher, so that failing on purpose from elsewhere does not
	// lock a user (the admin, say) out of their account from their own
	// address, while guessing spread over many addresses still stops.
	MaxFailuresPerEmail    = 5
	MaxFailuresPerIP       = 30
	MaxFailuresPerEmailAll = 100
	// MaxApplicationsPerIP bounds the partner applications (each a bcrypt
	// hash, a quarter of a second of CPU) from one address prefix per
	// LoginWindow, counted by this process.
	MaxApplicationsPerIP = 10
)

// Deps are what the panel handlers need.
type Deps struct {
	Store   *storage.Storage
	Ledger  *ledger.Ledger
	Links   links.Maker
	Hasher  auth.Hasher
	Reports *reports.Reports // nil: charts are hidden
	// CookieSecure marks cookies Secure (AFF_COOKIE_SECURE; on behind TLS).
	CookieSecure bool
	Log          *slog.Logger
	// Now is the clock (tests may fix it); nil means time.Now.
	Now func() time.Time
}

// UI holds the parsed templates and the dependencies.
type UI struct {
	Deps
	pages map[string]*template.Template
	// applyLimit bounds the applications one address prefix submits.
	applyLimit *windowLimiter
}

// New parses every template (a missing or broken view fails here, at
// start, not on a request).
func New(d Deps) (*UI, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	u := &UI{Deps: d, pages: map[string]*template.Template{},
		applyLimit: newWindowLimiter(MaxApplicationsPerIP, LoginWindow)}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("cannot parse layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("cannot parse template %s: %w", n, err)
		}
		u.pages[name] = t
	}
	for _, want := range requiredPages {
		if u.pages[want] == nil {
			return nil, fmt.Errorf("template %s.html is missing", want)
		}
	}
	return u, nil
}

var funcs = template.FuncMap{
	"money": func(currency string, minor int64) string {
		cur, err := money.ParseCurrency(currency)
		if err != nil {
			return strconv.FormatInt(minor, 10)
		}
		return money.Format(cur, minor) + " " + currency
	},
	"rate": func(upct int64) string {
		if upct < 0 {
			return "program default"
		}
		return links.FormatRate(upct) + " %"
	},
	// pathEscape escapes a shop-supplied id (an order or customer id may
	// hold '/', '#', '?', '%' or spaces) for one segment of a URL path, as
	// in href="/admin/orders/{{pathEscape .ID}}": html/template leaves those
	// characters alone inside a path. Handlers read the id back with
	// r.PathValue, which unescapes it, and redirect with url.PathEscape.
	"pathEscape": url.PathEscape,
	"date":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"day":        func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datep": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"add":       func(a, b int) int { return a + b },
	"hasPrefix": strings.HasPrefix,
	"list":      func(s ...string) []string { return s },
}

// Register adds every panel route to mux.
func (u *UI) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.FileServerFS(staticFiles))
	for _, r := range u.routes() {
		var h http.Handler = r.h
		switch r.role {
		case storage.RoleAdmin, storage.RolePartner:
			h = u.requireRole(r.role, h)
		}
		kind := formBody
		if _, ok := r.h.(uploader); ok {
			kind = uploadBody
		}
		mux.Handle(r.pattern, u.withSession(kind, h))
	}
	for _, r := range PartnerAPIRoutes(u) {
		mux.Handle(r.Method+" "+r.Path, u.withSession(jsonBody, u.requireJSONPartner(r.Handler)))
	}
}

type route struct {
	pattern string
	role    string // "" public, admin, partner
	h       http.Handler
}

// ctxKey keys the session in a request context.
type ctxKey struct{}

// sessionOf returns the request's session, if any.
func sessionOf(r *http.Request) (storage.Session, bool) {
	s, ok := r.Context().Value(ctxKey{}).(storage.Session)
	return s, ok
}

const sessionCookie = "aff_session"

// bodyKind is what the body of a route's unsafe requests may be; it
// decides the body's bound.
type bodyKind int

const (
	// formBody is a form, url-encoded or multipart, of at most MaxFormBytes.
	formBody bodyKind = iota
	// uploadBody is a form that may carry a file: multipart up to
	// maxMultipartBytes (parseUpload), url-encoded up to MaxFormBytes.
	uploadBody
	// jsonBody is a partner API request: application/json of at most
	// MaxAPIBodyBytes, its CSRF token only in the X-CSRF-Token header.
	jsonBody
)

// uploader marks a handler that takes a file upload (uploadBody); every
// other panel form is a formBody.
type uploader interface{ takesUpload() }

// withSession loads the session named by the cookie, bounds the body of
// every unsafe request by its kind (parsing a form's whole body here, so
// that no handler reads an unbounded one), and checks its CSRF token.
func (u *UI) withSession(kind bodyKind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := RequestTimeout
		if strings.HasSuffix(r.URL.Path, ".csv") {
			timeout = ExportTimeout
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) < 100 {
			s, err := u.Store.SessionByTokenHash(r.Context(), auth.TokenHash(c.Value))
			switch {
			case err == nil:
				r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
			case !errors.Is(err, storage.ErrNotFound):
				u.serverError(w, r, err)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !readBody(w, r, kind) {
				return
			}
			if !u.csrfOK(r, kind) {
				if kind == jsonBody {
					jsonError(w, http.StatusForbidden, "invalid or missing CSRF token", "X-CSRF-Token")
					return
				}
				http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readBody bounds the body of an unsafe request by its kind and parses a
// form, or answers (413, 415) and reports false.
func readBody(w http.ResponseWriter, r *http.Request, kind bodyKind) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if kind == jsonBody {
		r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBodyBytes)
		if r.ContentLength != 0 && mt != "application/json" {
			jsonError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json", "Content-Type")
			return false
		}
		return true
	}
	var err error
	switch {
	case mt == "multipart/form-data" && kind == uploadBody:
		err = parseUpload(r)
	case mt == "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
		err = r.ParseMultipartForm(MaxFormBytes)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		// Say so, rather than that the token (unread) is wrong.
		http.Error(w, fmt.Sprintf("the form is larger than %d KiB", MaxFormBytes>>10), http.StatusRequestEntityTooLarge)
		return false
	}
	// Another error (a malformed body) leaves the form empty: the CSRF
	// check refuses it, or, with the token in the header, the handler
	// finds its fields missing (and any reparse reads the bounded body).
	return true
}

// requireRole sends anonymous users to the login page and refuses users
// of another role.
func (u *UI) requireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if s.User.Role != role {
			http.Error(w, "forbidden: this page needs the "+role+" role", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (u *UI) serverError(w http.ResponseWriter, r *http.Request, err error) {
	u.Log.ErrorContext(r.Context(), "panel request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// pageNumber reads ?page=.
func pageNumber(r *http.Request) storage.Page {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return storage.Page{Number: n, Size: storage.DefaultPageSize}.Normalize()
}

// formID parses a positive integer form or path value.
func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil && n > 0
}
