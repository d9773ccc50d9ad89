package ui

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// view is what every template receives.
type view struct {
	Title   string
	User    *storage.User
	CSRF    string
	Flash   string
	Error   string
	Unread  int
	Path    string
	Page    storage.Page
	HasMore bool
	// PrevURL and NextURL are the pager links (same filters, other page).
	PrevURL, NextURL template.URL
	Data             map[string]any
}

const flashCookie = "aff_flash"

// render executes the named page into a buffer (so a template error never
// sends half a page) and writes it with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, status int, v view) {
	t := u.pages[name]
	if t == nil {
		panic("BUG: unknown page " + name)
	}
	if s, ok := sessionOf(r); ok {
		v.User = &s.User
		v.CSRF = csrfToken(s.CSRFSecret)
		if s.User.Role == storage.RolePartner {
			v.Unread, _ = u.Store.UnreadAnnouncements(r.Context(), s.User.PartnerID)
		}
	} else {
		v.CSRF = u.anonCSRF(w, r)
	}
	if c, err := r.Cookie(flashCookie); err == nil {
		if msg, err := url.QueryUnescape(c.Value); err == nil {
			v.Flash = msg
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: u.CookieSecure, SameSite: http.SameSiteLaxMode})
	}
	v.Path = r.URL.Path
	q := r.URL.Query()
	if v.Page.Number > 1 {
		q.Set("page", strconv.Itoa(v.Page.Number-1))
		v.PrevURL = template.URL("?" + q.Encode())
	}
	if v.HasMore {
		q.Set("page", strconv.Itoa(v.Page.Number+1))
		v.NextURL = template.URL("?" + q.Encode())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		u.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect answers a successful POST: a flash message and 303 to target.
func (u *UI) redirect(w http.ResponseWriter, r *http.Request, target, flash string) {
	if flash != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(flash), Path: "/", MaxAge: 60,
			HttpOnly: true, Secure: u.CookieSecure, SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// formError turns a validation or conflict error into a message for the
// user, or reports false for an unexpected error.
func formError(err error) (string, bool) {
	var fe *storage.FieldError
	if errors.As(err, &fe) {
		return fe.Error(), true
	}
	if msg, ok := api.BadRequestMessage(err); ok {
		return msg, true
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "not found", true
	case errors.Is(err, storage.ErrConflict):
		return "conflict: the change is not allowed in the current state", true
	}
	return "", false
}

// fail redirects back to target with the error as flash when it is the
// user's error, or answers 500.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, target string, err error) {
	if msg, ok := formError(err); ok {
		u.redirect(w, r, target, "Error: "+msg)
		return
	}
	u.serverError(w, r, err)
}

// csrfToken derives the form token from the session's CSRF secret.
func csrfToken(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

const anonCSRFCookie = "aff_csrf"

// anonCSRF returns the double-submit token of an anonymous visitor (login
// and application forms), setting its cookie when missing.
func (u *UI) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(anonCSRFCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	tok := auth.NewToken()
	http.SetCookie(w, &http.Cookie{Name: anonCSRFCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: u.CookieSecure, SameSite: http.SameSiteStrictMode, MaxAge: 86400})
	return tok
}

// csrfOK checks the X-CSRF-Token header (or, for a form, its csrf field)
// against the session's token, or against the anonymous cookie when not
// logged in. withSession has parsed the form.
func (u *UI) csrfOK(r *http.Request, kind bodyKind) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && kind != jsonBody && r.PostForm != nil {
		got = r.PostForm.Get("csrf")
	}
	if got == "" {
		return false
	}
	if s, ok := sessionOf(r); ok {
		return auth.Equal(got, csrfToken(s.CSRFSecret))
	}
	c, err := r.Cookie(anonCSRFCookie)
	return err == nil && c.Value != "" && auth.Equal(got, c.Value)
}

// maxMultipartBytes bounds a multipart body: one file of MaxUploadBytes
// (the only upload limit) plus room for the other fields and part headers.
const maxMultipartBytes = MaxUploadBytes + MaxFormBytes

// parseUpload parses the multipart body of an upload route: at most
// maxMultipartBytes are parsed (parts over 1 MiB spool to disk), and at
// most MaxUploadBytes more are read to drain a larger body. A larger body
// is not an error here: the CSRF token, which the panel's forms send
// before the file, is taken from the first MaxFormBytes so that the CSRF
// check still decides, and the handler answers 413 naming the limit
// (uploadTooLarge) instead of a misleading "invalid CSRF token". The rest
// of the form is dropped.
func parseUpload(r *http.Request) error {
	body := r.Body
	head := &headBuffer{max: MaxFormBytes}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(http.MaxBytesReader(nil, body, maxMultipartBytes), head), body}
	err := r.ParseMultipartForm(1 << 20)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		return err
	}
	// Read on, bounded, so that a client still sending its body gets the
	// answer rather than a reset connection.
	_, _ = io.CopyN(io.Discard, body, MaxUploadBytes)
	r.Body = oversizedBody{}
	r.MultipartForm = &multipart.Form{Value: map[string][]string{}, File: map[string][]*multipart.FileHeader{}}
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Form == nil || r.PostForm == nil { // ParseMultipartForm made them (with the query)
		r.Form, r.PostForm = r.URL.Query(), url.Values{}
	}
	if tok := leadingField(head.buf, params["boundary"], "csrf"); tok != "" {
		r.MultipartForm.Value["csrf"] = []string{tok}
		r.PostForm.Set("csrf", tok)
		r.Form.Set("csrf", tok)
	}
	return nil
}

// uploadTooLarge reports whether the request's multipart body was over
// maxMultipartBytes (parseUpload kept only its CSRF token).
func uploadTooLarge(r *http.Request) bool {
	_, ok := r.Body.(oversizedBody)
	return ok
}

// oversizedBody replaces a multipart body that was over the limit.
type oversizedBody struct{}

func (oversizedBody) Read([]byte) (int, error) {
	return 0, &http.MaxBytesError{Limit: maxMultipartBytes}
}

func (oversizedBody) Close() error { return nil }

// headBuffer keeps the first max bytes written to it and drops the rest.
type headBuffer struct {
	buf []byte
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// leadingField returns the value of the form field name if it is complete
// among the first few parts of a multipart body prefix, or "".
func leadingField(head []byte, boundary, name string) string {
	if boundary == "" {
		return ""
	}
	mr := multipart.NewReader(bytes.NewReader(head), boundary)
	for range 8 { // the panel's forms put csrf first
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if p.FormName() == name && p.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(p, 1024))
			if err != nil {
				return "" // cut off by the end of the prefix
			}
			return string(v)
		}
	}
	return ""
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
