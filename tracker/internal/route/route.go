// Package route classifies tracker request paths (DESIGN §4.2) without
// allocating. It works on the raw request path as sent by the client (not
// percent-decoded), so that an encoded character can never turn into a
// separator after the check.
package route

// Kind is what a request path addresses.
type Kind uint8

// Kinds of paths. Unknown covers every path that is not a valid link or
// endpoint; the caller sends such visitors to the shop and records nothing.
const (
	Unknown  Kind = iota
	Code          // /r/{code}
	Slug          // /{slug}
	Deep          // /{slug}/{path...}
	Identify      // /v1/identify
	Orders        // /v1/orders
	Healthz       // /healthz
	Metrics       // /metrics
	Reserved      // any other path under a reserved first segment
)

var kindNames = [...]string{"unknown", "code", "slug", "deep", "identify", "orders", "healthz", "metrics", "reserved"}

// String returns the lowercase name of k.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// MaxKeyLen is the longest code or slug accepted.
const MaxKeyLen = 64

// MaxDeepPathLen is the longest deep-link path (after the slug) accepted.
const MaxDeepPathLen = 2048

// Parse classifies the raw path (no query string). For Code, Slug and Deep
// it returns the code or slug in key; for Deep it returns in rest the path
// after the slug, starting with '/', already checked by ValidDeepPath.
// A Deep path whose rest is unsafe is returned as Slug with rest == nil:
// the visitor still reaches the partner's default target, attributed.
// key and rest alias path.
func Parse(path []byte) (kind Kind, key, rest []byte) {
	if len(path) == 0 || path[0] != '/' {
		return Unknown, nil, nil
	}
	p := path[1:]
	first, after := cut(p)
	switch string(first) { // the compiler does not allocate for a switch on string(b)
	case "r":
		code, more := cut(after)
		if more != nil || !ValidKey(code) {
			return Unknown, nil, nil
		}
		return Code, code, nil
	case "v1":
		switch string(after) {
		case "identify":
			return Identify, nil, nil
		case "orders":
			return Orders, nil, nil
		}
		return Reserved, nil, nil
	case "healthz":
		if after == nil {
			return Healthz, nil, nil
		}
		return Reserved, nil, nil
	case "metrics":
		if after == nil {
			return Metrics, nil, nil
		}
		return Reserved, nil, nil
	case "static":
		return Reserved, nil, nil
	}
	if !ValidKey(first) {
		return Unknown, nil, nil
	}
	if len(after) == 0 {
		// "/serdar" or "/serdar/": the partner's site link.
		return Slug, first, nil
	}
	rest = p[len(first):] // starts with '/'
	if !ValidDeepPath(rest) {
		return Slug, first, nil
	}
	return Deep, first, rest
}

// cut splits p at the first '/': head before it, tail after it. tail is nil
// when p holds no '/', and empty (non-nil) when p ends with it.
func cut(p []byte) (head, tail []byte) {
	for i, c := range p {
		if c == '/' {
			return p[:i], p[i+1:]
		}
	}
	return p, nil
}

// ValidKey reports whether k is a syntactically valid code or slug: 1 to
// MaxKeyLen characters from [A-Za-z0-9_-].
func ValidKey(k []byte) bool {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidDeepPath reports whether p, a raw path starting with '/', may be
// appended to the shop's base URL. It accepts RFC 3986 path characters
// and well-formed percent escapes, and rejects everything a browser or a
// shop might reinterpret: backslashes, control and non-ASCII bytes, empty
// segments ("//"), dot segments, and encoded '/', '\', '.' or control
// characters. The target host is fixed by the caller, so this is defence
// in depth against the shop's own path handling, not the only guard.
func ValidDeepPath(p []byte) bool {
	if len(p) < 2 || len(p) > MaxDeepPathLen || p[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if len(seg) == 0 && i != len(p) { // "//" (a trailing "/" is fine)
				return false
			}
			if string(seg) == "." || string(seg) == ".." {
				return false
			}
			segStart = i + 1
			continue
		}
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~':
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
			c == '*' || c == '+' || c == ',' || c == ';' || c == '=' || c == ':' || c == '@':
		case c == '%':
			if i+2 >= len(p) {
				return false
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return false
			}
			d := hi<<4 | lo
			if d < 0x20 || d == 0x7f || d == '/' || d == '\\' || d == '.' || d == '%' {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

// ValidQuery reports whether q, a raw query string without '?', may be
// passed on to the shop: the same character rules as ValidDeepPath plus
// '/' and '?', at most MaxDeepPathLen bytes.
func ValidQuery(q []byte) bool {
	if len(q) > MaxDeepPathLen {
		return false
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '?':
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
			c == '*' || c == '+' || c == ',' || c == ';' || c == '=' || c == ':' || c == '@':
		case c == '%':
			if i+2 >= len(q) {
				return false
			}
			if _, ok := unhex(q[i+1]); !ok {
				return false
			}
			if _, ok := unhex(q[i+2]); !ok {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
