package click

import (
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/openaff/affiliate/pkg/events"
)

// Encoder turns Records into click events. It is safe for concurrent use.
type Encoder struct {
	Bots    *BotDetector
	Repeats *RepeatTracker
}

// Append appends the JSON click event of r (events.AppendClick, DESIGN
// §4.3) to dst, with a new UUIDv7 click_id, the bot and repeat flags and
// the anonymised client address. It does not allocate when dst has room.
func (e *Encoder) Append(dst []byte, r *Record) []byte {
	ent := r.Entry
	c := events.Click{
		At:          r.At.UTC().Truncate(time.Microsecond),
		DeviceToken: view(r.Token[:]),
		PartnerID:   ent.PartnerID,
		LinkID:      ent.LinkID,
		Kind:        events.LinkKind(ent.Kind),
		Target:      ent.Target,
		ProductID:   ent.ProductID,
		CategoryID:  ent.CategoryID,
		IP:          events.AnonymizeIP(r.ClientAddr()),
		Bot:         e.Bots.IsBot(r.UserAgent),
		Repeat:      e.Repeats.Seen(r.Token[:], ent.LinkID, r.At),
	}
	if len(r.Target) > 0 {
		c.Kind = events.KindDeep
		c.Target = view(r.Target)
	}
	// Referer and user agent become valid UTF-8 within the event limits
	// (AppendClick would turn each invalid byte into 3 bytes of U+FFFD).
	c.Referer = view(r.Referer)
	if !utf8.Valid(r.Referer) {
		var ref [MaxRefererBytes]byte
		c.Referer = string(sanitize(ref[:0], r.Referer))
	}
	c.UserAgent = view(r.UserAgent)
	if !utf8.Valid(r.UserAgent) {
		var ua [MaxUserAgentBytes]byte
		c.UserAgent = string(sanitize(ua[:0], r.UserAgent))
	}
	var id [36]byte
	c.ClickID = view(events.AppendNewV7At(id[:0], r.At))
	return events.AppendClick(dst, &c)
}

// view returns b as a string without copying. The string aliases b: it is
// only used while encoding, before the Record goes back to the pool, and
// AppendClick does not retain it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// sanitize appends src to dst (which has room for len(src) bytes) with
// every byte of invalid UTF-8 replaced by '?', keeping the length.
func sanitize(dst, src []byte) []byte {
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n <= 1 {
			dst = append(dst, '?')
			src = src[1:]
			continue
		}
		dst = append(dst, src[:n]...)
		src = src[n:]
	}
	return dst
}
