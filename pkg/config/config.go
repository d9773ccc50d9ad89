// Package config reads the AFF_* environment contract of DESIGN §4.1 into a
// typed, validated struct. It is parsed once in main and passed down.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Names of the environment variables of the contract.
const (
	KafkaBrokers     = "AFF_KAFKA_BROKERS"
	KafkaTopicPrefix = "AFF_KAFKA_TOPIC_PREFIX"
	PostgresURL      = "AFF_POSTGRES_URL"
	ClickHouseAddr   = "AFF_CLICKHOUSE_ADDR"
	ClickHouseDB     = "AFF_CLICKHOUSE_DB"
	TrackerAddr      = "AFF_TRACKER_ADDR"
	DashboardAddr    = "AFF_DASHBOARD_ADDR"
	ShopURL          = "AFF_SHOP_URL"
	AllowedHosts     = "AFF_ALLOWED_HOSTS"
	CookieSecret     = "AFF_COOKIE_SECRET"
	CookieDomain     = "AFF_COOKIE_DOMAIN"
	CookieSecure     = "AFF_COOKIE_SECURE"
	ShopAPIKeys      = "AFF_SHOP_API_KEYS"
	AdminToken       = "AFF_ADMIN_TOKEN"
	SpoolDir         = "AFF_SPOOL_DIR"
)

// All lists every variable of the contract, in the order of DESIGN §4.1.
var All = []string{
	KafkaBrokers, KafkaTopicPrefix, PostgresURL, ClickHouseAddr, ClickHouseDB,
	TrackerAddr, DashboardAddr, ShopURL, AllowedHosts, CookieSecret, CookieDomain,
	CookieSecure, ShopAPIKeys, AdminToken, SpoolDir,
}

// MinCookieSecretBytes is the shortest cookie secret accepted; shorter keys
// make the device-token signature guessable.
const MinCookieSecretBytes = 16

// MinShopAPIKeyBytes is the shortest shop API key accepted: a /v1 key lets
// its holder write orders, and a short one can be guessed.
const MinShopAPIKeyBytes = 16

// DefaultKafkaTopicPrefix is the topic prefix when AFF_KAFKA_TOPIC_PREFIX is
// not set.
const DefaultKafkaTopicPrefix = "aff."

// Config is the parsed configuration. Fields whose variable was neither set
// nor required hold their zero value or the documented default.
type Config struct {
	KafkaBrokers     []string
	KafkaTopicPrefix string
	PostgresURL      string
	ClickHouseAddr   string
	ClickHouseDB     string
	TrackerAddr      string
	DashboardAddr    string
	ShopURL          *url.URL
	AllowedHosts     []string
	// CookieSecrets signs device tokens with the first secret and accepts any
	// of them, so a secret can be rotated without forgetting every device.
	CookieSecrets [][]byte
	CookieDomain  string
	CookieSecure  bool
	ShopAPIKeys   []string
	AdminToken    string
	SpoolDir      string
}

// Topic returns the full Kafka topic name for a short name such as "clicks".
func (c *Config) Topic(name string) string { return c.KafkaTopicPrefix + name }

// Per-binary sets of required variables.
var (
	TrackerServeRequired   = []string{KafkaBrokers, PostgresURL, ShopURL, CookieSecret, ShopAPIKeys, SpoolDir}
	TrackerSinkRequired    = []string{KafkaBrokers, PostgresURL, ClickHouseAddr}
	SettlerRequired        = []string{KafkaBrokers, PostgresURL, ClickHouseAddr}
	SettlerMigrateRequired = []string{PostgresURL, ClickHouseAddr}
	DashboardRequired      = []string{PostgresURL, ClickHouseAddr, ShopURL, AdminToken}
)

// FromEnv reads the process environment; see Load.
func FromEnv(required ...string) (*Config, error) { return Load(os.LookupEnv, required...) }

// Error lists every problem found in the environment, each naming its variable.
type Error struct{ Problems []string }

func (e *Error) Error() string { return "invalid configuration: " + strings.Join(e.Problems, "; ") }

// Load parses the configuration from lookup. Each name in required must be
// set and non-empty. Every malformed value is reported, not only the first,
// so an operator can fix the environment in one go.
func Load(lookup func(string) (string, bool), required ...string) (*Config, error) {
	p := parser{lookup: lookup, required: make(map[string]bool, len(required))}
	for _, r := range required {
		p.required[r] = true
	}
	c := &Config{
		KafkaBrokers:     p.hostPorts(KafkaBrokers),
		KafkaTopicPrefix: p.topicPrefix(KafkaTopicPrefix),
		PostgresURL:      p.postgresURL(PostgresURL),
		ClickHouseDB:     p.identifier(ClickHouseDB, "affiliate"),
		CookieDomain:     p.str(CookieDomain, ""),
		CookieSecure:     p.boolean(CookieSecure),
		ShopAPIKeys:      p.keys(ShopAPIKeys),
		AdminToken:       p.str(AdminToken, ""),
		SpoolDir:         p.str(SpoolDir, ""),
	}
	// One address: every ClickHouse client of ours dials Config's one
	// ClickHouseAddr, and a list used to keep its first silently. Refused
	// where it is required (every binary that dials ClickHouse); a binary
	// that does not (tracker serve) is not stopped by a shared environment.
	if addrs := p.hostPorts(ClickHouseAddr); len(addrs) > 1 && p.required[ClickHouseAddr] {
		p.fail(ClickHouseAddr, "holds %d addresses; give one host:port (a list is not supported)", len(addrs))
	} else if len(addrs) > 0 {
		c.ClickHouseAddr = addrs[0]
	}
	c.TrackerAddr = p.listenAddr(TrackerAddr, "127.0.0.1:8080")
	c.DashboardAddr = p.listenAddr(DashboardAddr, "127.0.0.1:8081")
	c.ShopURL = p.absURL(ShopURL)
	c.AllowedHosts = p.list(AllowedHosts)
	if len(c.AllowedHosts) == 0 && c.ShopURL != nil {
		c.AllowedHosts = []string{c.ShopURL.Hostname()}
	}
	for i, h := range c.AllowedHosts {
		c.AllowedHosts[i] = strings.ToLower(h)
	}
	c.CookieSecrets = p.secrets(CookieSecret)
	if len(p.problems) > 0 {
		return nil, &Error{Problems: p.problems}
	}
	return c, nil
}

type parser struct {
	lookup   func(string) (string, bool)
	required map[string]bool
	problems []string
}

func (p *parser) fail(name, format string, args ...any) {
	p.problems = append(p.problems, name+": "+fmt.Sprintf(format, args...))
}

// raw returns the trimmed value, reporting a missing required variable.
func (p *parser) raw(name string) string {
	v, _ := p.lookup(name)
	v = strings.TrimSpace(v)
	if v == "" && p.required[name] {
		p.fail(name, "is required but not set")
	}
	return v
}

func (p *parser) str(name, def string) string {
	if v := p.raw(name); v != "" {
		return v
	}
	return def
}

// topicPrefix reads the Kafka topic prefix: DefaultKafkaTopicPrefix when
// unset or empty (as deploy/kafka/topics.sh's ${AFF_KAFKA_TOPIC_PREFIX:-aff.}
// reads it, so the binaries and the topics agree). A prefix holds only the
// characters Kafka allows in a topic name.
func (p *parser) topicPrefix(name string) string {
	if _, set := p.lookup(name); !set {
		return DefaultKafkaTopicPrefix
	}
	v := p.raw(name)
	if v == "" {
		return DefaultKafkaTopicPrefix
	}
	for _, r := range v {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			p.fail(name, "%q may hold only letters, digits, '.', '_' and '-' (Kafka topic names)", v)
			break
		}
	}
	return v
}

// keys reads a comma list of shop API keys, each at least
// MinShopAPIKeyBytes long where they are required (tracker serve, which
// takes them); the other binaries ignore them, so a shared environment
// with an old short key does not stop them.
func (p *parser) keys(name string) []string {
	out := p.list(name)
	for _, k := range out {
		if len(k) < MinShopAPIKeyBytes && p.required[name] {
			// Never echo a key, not even a short one.
			p.fail(name, "every key must be at least %d bytes", MinShopAPIKeyBytes)
			return nil
		}
	}
	return out
}

func (p *parser) list(name string) []string {
	var out []string
	for _, part := range strings.Split(p.raw(name), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (p *parser) hostPorts(name string) []string {
	out := p.list(name)
	for _, hp := range out {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			p.fail(name, "%q is not host:port", hp)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			p.fail(name, "%q has an invalid port", hp)
		}
	}
	return out
}

func (p *parser) listenAddr(name, def string) string {
	v := p.raw(name)
	if v == "" {
		return def
	}
	if _, port, err := net.SplitHostPort(v); err != nil {
		p.fail(name, "%q is not host:port", v)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, "%q has an invalid port", v)
	}
	return v
}

func (p *parser) boolean(name string) bool {
	v := p.raw(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q is not a boolean (use true or false)", v)
	}
	return b
}

func (p *parser) identifier(name, def string) string {
	v := p.str(name, def)
	for _, r := range v {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			p.fail(name, "%q may hold only letters, digits and _", v)
			break
		}
	}
	return v
}

func (p *parser) postgresURL(name string) string {
	v := p.raw(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.fail(name, "must be a postgres:// URL")
	}
	return v
}

func (p *parser) absURL(name string) *url.URL {
	v := p.raw(name)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "%q must be an absolute http(s) URL", v)
		return nil
	}
	return u
}

func (p *parser) secrets(name string) [][]byte {
	var out [][]byte
	for _, s := range p.list(name) {
		if len(s) < MinCookieSecretBytes {
			// Never echo a secret, not even a short one.
			p.fail(name, "every secret must be at least %d bytes", MinCookieSecretBytes)
			return nil
		}
		out = append(out, []byte(s))
	}
	return out
}
