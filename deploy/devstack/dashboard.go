package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openaff/affiliate/deploy/devstack/internal/sim"
)

// adminAPI is a client of the dashboard's admin JSON API (DESIGN §4.4).
type adminAPI struct {
	base  string // e.g. http://127.0.0.1:8081
	token string
	hc    *http.Client
}

func newAdminAPI(base, token string) *adminAPI {
	return &adminAPI{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 15 * time.Second}}
}

// apiError is a non-2xx answer of the API.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Msg) }

// call sends in (when not nil) as JSON and decodes a 2xx answer into out
// (when not nil).
func (a *adminAPI) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &apiError{Status: resp.StatusCode, Msg: strings.TrimSpace(string(b))})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: cannot decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// partner is the API's view of a partner.
type partner struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Slug     string `json:"slug"`
	SiteLink string `json:"site_link"`
}

// link is the API's view of a tracking link.
type link struct {
	Code       string `json:"code"`
	URL        string `json:"url"`
	ProductID  string `json:"product_id"`
	CategoryID string `json:"category_id"`
}

// partners lists every partner (following the pages).
func (a *adminAPI) partners(ctx context.Context) ([]partner, error) {
	var all []partner
	for page := 1; page <= 1000; page++ {
		var out struct {
			Partners []partner `json:"partners"`
			HasMore  bool      `json:"has_more"`
		}
		if err := a.call(ctx, "GET", "/api/admin/partners?per_page=100&page="+strconv.Itoa(page), nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Partners...)
		if !out.HasMore {
			return all, nil
		}
	}
	return all, nil
}

// ensurePartner creates the partner, or returns the one with its slug.
func (a *adminAPI) ensurePartner(ctx context.Context, p partner, rate string) (partner, error) {
	in := map[string]any{"name": p.Name, "email": p.Email, "slug": p.Slug}
	if rate != "" {
		in["default_rate"] = rate
	}
	var out partner
	err := a.call(ctx, "POST", "/api/admin/partners", in, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		all, lerr := a.partners(ctx)
		if lerr != nil {
			return out, lerr
		}
		for _, q := range all {
			if q.Slug == p.Slug {
				return q, nil
			}
		}
	}
	return out, err
}

// links lists a partner's links (first 100 are plenty for the simulator).
func (a *adminAPI) links(ctx context.Context, partnerID int64) ([]link, error) {
	var out struct {
		Links []link `json:"links"`
	}
	err := a.call(ctx, "GET", fmt.Sprintf("/api/admin/partners/%d/links?per_page=100", partnerID), nil, &out)
	return out.Links, err
}

// simLinks returns every partner's site link and tracking links as the
// simulator's links.
func (a *adminAPI) simLinks(ctx context.Context) ([]sim.Link, error) {
	ps, err := a.partners(ctx)
	if err != nil {
		return nil, err
	}
	var out []sim.Link
	for _, p := range ps {
		if p.SiteLink != "" {
			out = append(out, sim.Link{URL: p.SiteLink})
		}
		ls, err := a.links(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			out = append(out, sim.Link{URL: l.URL, ProductID: l.ProductID})
		}
	}
	return out, nil
}

// panel is a browser session on the dashboard's server-rendered panel, for
// what the JSON API does not offer (a partner's login password).
type panel struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// panelLogin logs in with email and password and returns the session.
func panelLogin(ctx context.Context, base, email, password string) (*panel, error) {
	jar, _ := cookiejar.New(nil) // never fails without options
	p := &panel{base: strings.TrimRight(base, "/"), hc: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	page, err := p.get(ctx, "/login")
	if err != nil {
		return nil, err
	}
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		return nil, errors.New("no csrf token on the login page")
	}
	form := url.Values{"email": {email}, "password": {password}, "csrf": {m[1]}}
	page, err = p.post(ctx, "/login", form)
	if err != nil {
		return nil, err
	}
	if m = csrfInput.FindStringSubmatch(page); m == nil {
		return nil, fmt.Errorf("login as %s failed (no form on the page after it)", email)
	}
	p.csrf = m[1]
	if strings.Contains(page, "Wrong e-mail or password") {
		return nil, fmt.Errorf("login as %s: wrong e-mail or password", email)
	}
	return p, nil
}

func (p *panel) get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+path, nil)
	if err != nil {
		return "", err
	}
	return p.do(req)
}

func (p *panel) post(ctx context.Context, path string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", p.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.do(req)
}

// do follows redirects (POST then redirect) and returns the final page.
func (p *panel) do(req *http.Request) (string, error) {
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusUnauthorized {
		return "", fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return string(b), nil
}

// setPartnerPassword gives the partner a login with its e-mail (the admin
// panel's "login" form on the partner page).
func (p *panel) setPartnerPassword(ctx context.Context, id int64, password string) error {
	page, err := p.post(ctx, fmt.Sprintf("/admin/partners/%d/login", id), url.Values{"csrf": {p.csrf}, "password": {password}})
	if err != nil {
		return err
	}
	if !strings.Contains(page, "Login saved") {
		return fmt.Errorf("setting the login of partner %d: no confirmation on the page", id)
	}
	return nil
}

var clicksTotal = regexp.MustCompile(`Clicks per day <span class="muted">\(total (\d+)\)`)

// clicksShown returns the 30-day click total the admin overview shows.
func (p *panel) clicksShown(ctx context.Context) (int64, error) {
	page, err := p.get(ctx, "/admin")
	if err != nil {
		return 0, err
	}
	m := clicksTotal.FindStringSubmatch(page)
	if m == nil {
		return 0, errors.New("no click total on the admin overview")
	}
	return strconv.ParseInt(m[1], 10, 64)
}
