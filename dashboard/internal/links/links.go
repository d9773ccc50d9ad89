// Package links checks link targets against the allowed shop hosts,
// builds public tracking URLs and converts percent rates to the schema's
// micro-percent.
package links

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/openaff/affiliate/pkg/money"
)

// MaxURLLen bounds a link target (the schema's limit).
const MaxURLLen = 2048

// Maker validates targets and formats tracking links.
type Maker struct {
	// AllowedHosts are lower-case host names a link may point to.
	AllowedHosts []string
	// TrackerBase is the tracker's public base URL without a trailing slash.
	TrackerBase string
	// Shop is AFF_SHOP_URL, the default target.
	Shop string
}

// ShopURL returns the shop's home page, or its category page when a
// category id is given (the shop's ?category= convention; the shop may
// redirect it anywhere on its own host).
func (m Maker) ShopURL(categoryID string) string {
	if categoryID == "" {
		return m.Shop
	}
	return strings.TrimRight(m.Shop, "/") + "/?category=" + url.QueryEscape(categoryID)
}

// CheckTarget parses raw and returns its canonical form when it is an
// absolute http(s) URL on an allowed host.
func (m Maker) CheckTarget(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("is required")
	}
	if len(raw) > MaxURLLen {
		return "", fmt.Errorf("is longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", errors.New("must be an absolute http(s) URL")
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range m.AllowedHosts {
		if host == h {
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("host %q is not an allowed shop host", host)
}

// TrackingURL returns the public /r/{code} link.
func (m Maker) TrackingURL(code string) string { return m.TrackerBase + "/r/" + code }

// SlugURL returns the public custom site link /{slug}.
func (m Maker) SlugURL(slug string) string { return m.TrackerBase + "/" + slug }

// ParsePercent parses a percentage such as "10" or "12.5" into
// micro-percent, the unit of money.Rate and of the schema's *_upct columns
// (10 % = 10000000).
func ParsePercent(s string) (int64, error) {
	r, err := money.ParseRate(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return int64(r), nil
}

// FormatRate formats micro-percent as a percent string ("10", "12.5").
func FormatRate(upct int64) string { return money.Rate(upct).String() }
