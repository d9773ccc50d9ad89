package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// countingBody is a request body of a head, size filler bytes and a tail,
// made as it is read; read counts what the server took.
type countingBody struct {
	r    io.Reader
	read int64
}

func newCountingBody(head string, fill byte, size int64, tail string) *countingBody {
	filler := io.LimitReader(repeatReader(fill), size)
	return &countingBody{r: io.MultiReader(strings.NewReader(head), filler, strings.NewReader(tail))}
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// multipartFile returns the head and tail of a multipart body around one
// file part, with the csrf field first, and its Content-Type.
func multipartFile(csrf, field string) (head, tail, contentType string) {
	const boundary = "aff-test-boundary"
	head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf + "\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"big.json\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	tail = "\r\n--" + boundary + "--\r\n"
	return head, tail, "multipart/form-data; boundary=" + boundary
}

// serve sends one request through the panel's handlers in process, so that
// the test sees exactly how much of the body they read.
func serve(f *fixture, method, path, contentType, csrf string, cookies []*http.Cookie, body *countingBody) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", contentType)
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.srv.Config.Handler.ServeHTTP(w, req)
	return w
}

// TestBodiesBoundedWithCSRFHeader checks that a body sent with the
// X-CSRF-Token header (which spares the middleware reading the form for
// the token) is bounded all the same: a multipart form on a form route by
// MaxFormBytes, an upload by the upload bound, a partner API body by
// MaxAPIBodyBytes whatever its Content-Type.
func TestBodiesBoundedWithCSRFHeader(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	const big = 40 << 20
	f1 := func(name, method, path, contentType, csrf string, cookies []*http.Cookie, body *countingBody, maxRead int64, statuses ...int) {
		t.Helper()
		w := serve(f, method, path, contentType, csrf, cookies, body)
		ok := false
		for _, s := range statuses {
			ok = ok || w.Code == s
		}
		if !ok {
			t.Errorf("%s: status %d (%s), want one of %v", name, w.Code, strings.TrimSpace(w.Body.String()), statuses)
		}
		if body.read > maxRead {
			t.Errorf("%s: the server read %d bytes of the body, want at most %d", name, body.read, maxRead)
		}
	}

	// Anonymous: a self-chosen double-submit cookie and the same header.
	tok := strings.Repeat("a", 43)
	anon := []*http.Cookie{{Name: anonCSRFCookie, Value: tok}}
	head, tail, ct := multipartFile(tok, "file")
	f1("login, 40 MiB multipart", "POST", "/login", ct, tok, anon, newCountingBody(head, 'x', big, tail),
		MaxFormBytes+1, http.StatusRequestEntityTooLarge)
	f1("apply, 40 MiB url-encoded", "POST", "/apply", "application/x-www-form-urlencoded", tok, anon,
		newCountingBody("name=", 'x', big, ""), MaxFormBytes+1, http.StatusRequestEntityTooLarge)
	if n := f.count(`SELECT count(*) FROM login_attempts`) + f.count(`SELECT count(*) FROM partner_applications`); n != 0 {
		t.Fatalf("refused bodies wrote %d rows", n)
	}

	// A partner's API call: multipart (or any other non-JSON type) is
	// refused unread; JSON is read up to its bound.
	c := f.client()
	if s := c.login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("partner login: %d", s)
	}
	u, _ := url.Parse(f.srv.URL)
	session := c.http.Jar.Cookies(u)
	jsonHead := `{"url":"https://shop.example/x","product_id":"`
	f1("partner API, 20 MiB multipart", "POST", "/api/partner/links", ct, c.csrf, session,
		newCountingBody(jsonHead, 'x', 20<<20, `"}`), MaxAPIBodyBytes+1, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge)
	f1("partner API, 20 MiB text/plain", "POST", "/api/partner/links", "text/plain", c.csrf, session,
		newCountingBody(jsonHead, 'x', 20<<20, `"}`), MaxAPIBodyBytes+1, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge)
	f1("partner API, 20 MiB JSON", "POST", "/api/partner/links", "application/json", c.csrf, session,
		newCountingBody(jsonHead, 'x', 20<<20, `"}`), MaxAPIBodyBytes+1, http.StatusRequestEntityTooLarge)
	f1("partner form, 40 MiB multipart", "POST", "/partner/bank", ct, c.csrf, session,
		newCountingBody(head, 'x', big, tail), MaxFormBytes+1, http.StatusRequestEntityTooLarge)
	if n := f.count(`SELECT count(*) FROM links`); n != 0 {
		t.Fatalf("refused API bodies made %d links", n)
	}

	// The catalog upload with the header: answered 413 naming the limit
	// after at most the multipart bound and the bounded drain.
	adm := adminClient(t, f)
	adm.get("/admin/catalog")
	head, tail, ct = multipartFile(adm.csrf, "file")
	f1("catalog upload, 40 MiB, token in the header", "POST", "/admin/catalog", ct, adm.csrf, adm.http.Jar.Cookies(u),
		newCountingBody(head, ' ', big, tail), maxMultipartBytes+MaxUploadBytes+1, http.StatusRequestEntityTooLarge)
	if n := f.count(`SELECT count(*) FROM products`); n != 0 {
		t.Fatalf("refused upload imported %d products", n)
	}
}
