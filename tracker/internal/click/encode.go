package click

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encoder turns Records into click events. It is safe for concurrent use.
type Encoder struct {
	Bots    *BotDetector
	Repeats *RepeatTracker
}

// Append appends the JSON click event of r to dst (DESIGN §4.3):
//
//	{"v":1,"click_id","at","device_token","partner_id","link_id","link_kind",
//	 "target","product_id","category_id","referer","user_agent","ip","bot","repeat"}
//
// click_id is a new UUIDv7 whose time is r.At.
func (e *Encoder) Append(dst []byte, r *Record) []byte {
	ent := r.Entry
	target := ent.Target
	linkKey := ent.LinkID
	if linkKey == "" {
		linkKey = "slug:" + ent.PartnerID
	}
	dst = append(dst, `{"v":1,"click_id":"`...)
	dst = AppendUUIDv7(dst, r.At)
	dst = append(dst, `","at":"`...)
	dst = r.At.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","device_token":"`...)
	dst = append(dst, r.Token[:]...)
	dst = append(dst, `","partner_id":`...)
	dst = appendString(dst, ent.PartnerID)
	dst = append(dst, `,"link_id":`...)
	dst = appendString(dst, ent.LinkID)
	dst = append(dst, `,"link_kind":`...)
	dst = appendString(dst, ent.Kind)
	dst = append(dst, `,"target":`...)
	if len(r.Target) > 0 {
		dst = appendString(dst, r.Target)
	} else {
		dst = appendString(dst, target)
	}
	dst = append(dst, `,"product_id":`...)
	dst = appendString(dst, ent.ProductID)
	dst = append(dst, `,"category_id":`...)
	dst = appendString(dst, ent.CategoryID)
	dst = append(dst, `,"referer":`...)
	dst = appendString(dst, r.Referer)
	dst = append(dst, `,"user_agent":`...)
	dst = appendString(dst, r.UserAgent)
	dst = append(dst, `,"ip":"`...)
	if a := Anonymize(r.ClientAddr()); a.IsValid() {
		dst = a.AppendTo(dst)
	}
	dst = append(dst, `","bot":`...)
	dst = strconv.AppendBool(dst, e.Bots.IsBot(r.UserAgent))
	dst = append(dst, `,"repeat":`...)
	dst = strconv.AppendBool(dst, e.Repeats.Seen(r.Token[:], linkKey, r.At))
	return append(dst, '}')
}

// AppendUUIDv7 appends the canonical text of a new RFC 9562 UUIDv7 with the
// millisecond time of at and 74 random bits.
func AppendUUIDv7(dst []byte, at time.Time) []byte {
	var u [16]byte
	if _, err := rand.Read(u[6:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	ms := uint64(at.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[:6], ts[2:])
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	const hexdigits = "0123456789abcdef"
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexdigits[b>>4], hexdigits[b&0xf])
	}
	return dst
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		if c < 0x80 {
			dst = appendEscaped(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			dst = append(dst, `\u202`...)
			dst = append(dst, "89"[r-'\u2028'])
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

func appendEscaped(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, `\"`...)
	case '\\':
		return append(dst, `\\`...)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	}
	const hexdigits = "0123456789abcdef"
	return append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
}
