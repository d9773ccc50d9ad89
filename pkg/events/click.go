package events

import (
	"net/netip"
	"time"
)

// LinkKind says how a visitor reached the tracker.
type LinkKind string

// The link kinds of DESIGN §4.2.
const (
	// KindLink is a generated link, GET /r/{code}.
	KindLink LinkKind = "link"
	// KindSlug is a partner's custom site link, GET /{slug}.
	KindSlug LinkKind = "slug"
	// KindDeep is a deep link, GET /{slug}/{path...}.
	KindDeep LinkKind = "deep"
)

// Click is one redirect to a partner's target, produced by the tracker only
// (topic "clicks", key device_token).
type Click struct {
	// ClickID is a UUIDv7 in canonical lower-case form (see AppendNewV7).
	ClickID string
	// At is the time of the redirect, in UTC.
	At time.Time
	// DeviceToken is the visitor's aff_dt token.
	DeviceToken string
	// PartnerID is the partner credited by the link.
	PartnerID string
	// LinkID is the link (or the partner's slug link) that was followed.
	LinkID string
	// Kind is how the visitor came in.
	Kind LinkKind
	// Target is the absolute http(s) URL the visitor was sent to.
	Target string
	// ProductID is the linked product, when known; optional.
	ProductID string
	// CategoryID is the linked category, when known; optional.
	CategoryID string
	// Referer is the Referer header, possibly empty; at most MaxURLLen bytes.
	Referer string
	// UserAgent is the User-Agent header, possibly empty; at most
	// MaxUserAgentLen bytes.
	UserAgent string
	// IP is the visitor's address anonymised with AnonymizeIP (/24 or
	// /48); the zero Addr when unknown. Never a full address.
	IP netip.Addr
	// Bot is set when the user agent is a known bot.
	Bot bool
	// Repeat is set when the same device followed the same link within the
	// last hour.
	Repeat bool
}

// DecodeClick decodes and validates one click event. The strings of the
// result share one copy of data.
func DecodeClick(data []byte) (Click, error) {
	return decodeClick(data, false)
}

// DecodeClickOwned is DecodeClick for a buffer handed over for good: the
// strings of the result alias data instead of a copy of it, so data must
// never be modified afterwards. The sink uses it on Kafka messages, which
// kafka-go allocates per message and does not reuse, saving a copy of
// every click.
func DecodeClickOwned(data []byte) (Click, error) {
	return decodeClick(data, true)
}

func decodeClick(data []byte, owned bool) (Click, error) {
	var c Click
	var at, kind, ip string
	var hasBot, hasRepeat bool
	r, err := decodeObjectIn(data, owned, func(r *reader, key []byte) error {
		var err error
		switch string(key) {
		case "click_id":
			if err = r.mark(0, "click_id"); err == nil {
				c.ClickID, err = r.str("click_id")
			}
		case "at":
			if err = r.mark(1, "at"); err == nil {
				at, err = r.str("at")
			}
		case "device_token":
			if err = r.mark(2, "device_token"); err == nil {
				c.DeviceToken, err = r.str("device_token")
			}
		case "partner_id":
			if err = r.mark(3, "partner_id"); err == nil {
				c.PartnerID, err = r.str("partner_id")
			}
		case "link_id":
			if err = r.mark(4, "link_id"); err == nil {
				c.LinkID, err = r.str("link_id")
			}
		case "kind":
			if err = r.mark(5, "kind"); err == nil {
				kind, err = r.str("kind")
			}
		case "target":
			if err = r.mark(6, "target"); err == nil {
				c.Target, err = r.str("target")
			}
		case "product_id":
			if err = r.mark(7, "product_id"); err == nil {
				c.ProductID, err = r.str("product_id")
			}
		case "category_id":
			if err = r.mark(8, "category_id"); err == nil {
				c.CategoryID, err = r.str("category_id")
			}
		case "referer":
			if err = r.mark(9, "referer"); err == nil {
				c.Referer, err = r.str("referer")
			}
		case "user_agent":
			if err = r.mark(10, "user_agent"); err == nil {
				c.UserAgent, err = r.str("user_agent")
			}
		case "ip":
			if err = r.mark(11, "ip"); err == nil {
				ip, err = r.str("ip")
			}
		case "bot":
			if err = r.mark(12, "bot"); err == nil {
				c.Bot, hasBot, err = r.boolean("bot")
			}
		case "repeat":
			if err = r.mark(13, "repeat"); err == nil {
				c.Repeat, hasRepeat, err = r.boolean("repeat")
			}
		default:
			err = r.skipUnknown(string(key))
		}
		return err
	})
	if err != nil {
		return Click{}, err
	}
	if err := r.unknownErr(); err != nil {
		return Click{}, err
	}
	if err := c.validate(at, kind, ip, hasBot, hasRepeat); err != nil {
		return Click{}, err
	}
	return c, nil
}

func (c *Click) validate(at, kind, ip string, hasBot, hasRepeat bool) error {
	var err error
	if err = checkUUID("click_id", c.ClickID, 7); err != nil {
		return err
	}
	if c.At, err = parseTime("at", at); err != nil {
		return err
	}
	if err = checkToken("device_token", c.DeviceToken, true); err != nil {
		return err
	}
	if err = checkID("partner_id", c.PartnerID, true); err != nil {
		return err
	}
	if err = checkID("link_id", c.LinkID, true); err != nil {
		return err
	}
	c.Kind = LinkKind(kind)
	switch c.Kind {
	case KindLink, KindSlug, KindDeep:
	case "":
		return missing("kind")
	default:
		return fieldErr("kind", "must be link, slug or deep")
	}
	if err = checkURL("target", c.Target); err != nil {
		return err
	}
	if err = checkID("product_id", c.ProductID, false); err != nil {
		return err
	}
	if err = checkID("category_id", c.CategoryID, false); err != nil {
		return err
	}
	if err = checkText("referer", c.Referer, MaxURLLen); err != nil {
		return err
	}
	if err = checkText("user_agent", c.UserAgent, MaxUserAgentLen); err != nil {
		return err
	}
	if c.IP, err = parseAnonIP("ip", ip); err != nil {
		return err
	}
	if !hasBot {
		return missing("bot")
	}
	if !hasRepeat {
		return missing("repeat")
	}
	return nil
}

// AppendClick appends c as one JSON object and returns the extended buffer.
// It is the tracker's hot path: it does not allocate when dst has room
// (about 1 KiB covers a typical click; the worst case is bounded by the
// field limits, under 16 KiB). It does not validate: the tracker builds
// clicks from checked parts. Strings are escaped as JSON requires, control
// characters included, and invalid UTF-8 becomes U+FFFD, so the output
// always decodes. Fields are written in a fixed order; product_id and
// category_id are left out when empty.
func AppendClick(dst []byte, c *Click) []byte {
	dst = append(dst, `{"v":1,"click_id":`...)
	dst = appendString(dst, c.ClickID)
	dst = append(dst, `,"at":`...)
	dst = appendTime(dst, c.At)
	dst = append(dst, `,"device_token":`...)
	dst = appendString(dst, c.DeviceToken)
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, c.PartnerID)
	dst = append(dst, `,"link_id":`...)
	dst = appendString(dst, c.LinkID)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, string(c.Kind))
	dst = append(dst, `,"target":`...)
	dst = appendString(dst, c.Target)
	dst = optString(dst, `,"product_id":`, c.ProductID)
	dst = optString(dst, `,"category_id":`, c.CategoryID)
	dst = append(dst, `,"referer":`...)
	dst = appendString(dst, c.Referer)
	dst = append(dst, `,"user_agent":`...)
	dst = appendString(dst, c.UserAgent)
	dst = append(dst, `,"ip":"`...)
	if c.IP.IsValid() {
		dst = c.IP.AppendTo(dst)
	}
	dst = append(dst, `","bot":`...)
	dst = appendBool(dst, c.Bot)
	dst = append(dst, `,"repeat":`...)
	dst = appendBool(dst, c.Repeat)
	return append(dst, '}')
}

// MarshalJSON encodes c, refusing a click DecodeClick would reject.
func (c Click) MarshalJSON() ([]byte, error) {
	b := AppendClick(nil, &c)
	if _, err := DecodeClick(b); err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON decodes strictly with DecodeClick.
func (c *Click) UnmarshalJSON(b []byte) error {
	v, err := DecodeClick(b)
	if err != nil {
		return err
	}
	*c = v
	return nil
}
