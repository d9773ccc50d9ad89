package events

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Baselines in the same run: encoding/json on an equivalent tagged struct
// (what one would write without this package) and google/uuid.

// clickJSON is the encoding/json baseline's shape of a click.
type clickJSON struct {
	V           int       `json:"v"`
	ClickID     string    `json:"click_id"`
	At          time.Time `json:"at"`
	DeviceToken string    `json:"device_token"`
	PartnerID   string    `json:"partner_id"`
	LinkID      string    `json:"link_id"`
	Kind        string    `json:"kind"`
	Target      string    `json:"target"`
	ProductID   string    `json:"product_id,omitempty"`
	CategoryID  string    `json:"category_id,omitempty"`
	Referer     string    `json:"referer"`
	UserAgent   string    `json:"user_agent"`
	IP          string    `json:"ip"`
	Bot         bool      `json:"bot"`
	Repeat      bool      `json:"repeat"`
}

func baselineClick(c *Click) clickJSON {
	return clickJSON{1, c.ClickID, c.At, c.DeviceToken, c.PartnerID, c.LinkID, string(c.Kind), c.Target,
		c.ProductID, c.CategoryID, c.Referer, c.UserAgent, c.IP.String(), c.Bot, c.Repeat}
}

var sinkBytes []byte

func BenchmarkAppendClick(b *testing.B) {
	c := sampleClick()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendClick(buf[:0], &c)
	}
	b.SetBytes(int64(len(buf)))
	sinkBytes = buf
}

func BenchmarkAppendClickBaselineEncodingJSON(b *testing.B) {
	c := sampleClick()
	bc := baselineClick(&c)
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		out, _ = json.Marshal(&bc)
	}
	b.SetBytes(int64(len(out)))
	sinkBytes = out
}

func BenchmarkDecodeClick(b *testing.B) {
	c := sampleClick()
	data := AppendClick(nil, &c)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClick(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeClickOwned decodes a click as the sink does (owned: the
// strings alias the message) and as the tracker writes it: no escapes,
// microsecond time, anonymised IPv4 (sampleClick exercises the slow paths).
func BenchmarkDecodeClickOwned(b *testing.B) {
	c := Click{ClickID: "019ab9f0-7c1e-7cc2-8f3e-0123456789ab", At: time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC),
		DeviceToken: "dev-0012345.sig0123456789abcdef", PartnerID: "123", LinkID: "4567", Kind: KindLink,
		Target: "https://shop.example/products/blue-shirt?size=m", ProductID: "sku-1234", Referer: "https://instagram.com/",
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
		IP:        netip.MustParseAddr("203.0.113.0"), Bot: true}
	data := AppendClick(nil, &c)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClickOwned(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeClickBaselineEncodingJSON decodes without any validation.
func BenchmarkDecodeClickBaselineEncodingJSON(b *testing.B) {
	c := sampleClick()
	data := AppendClick(nil, &c)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var bc clickJSON
		if err := json.Unmarshal(data, &bc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrder(b *testing.B) {
	data := []byte(validOrderJSON)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOrder(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOrderBaselineEncodingJSON decodes into a plain tagged
// struct with string amounts: no validation, no amount parsing.
func BenchmarkDecodeOrderBaselineEncodingJSON(b *testing.B) {
	type line struct {
		LineID, ProductID, CategoryID string
		Quantity                      int64
		UnitPrice, Discount           string
	}
	type order struct {
		V                                                   int
		EventID, Type, OrderID, At, CustomerID, DeviceToken string
		Currency                                            string
		Lines                                               []line
		ShippingFee                                         string
	}
	data := []byte(validOrderJSON)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var o order
		if err := json.Unmarshal(data, &o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendNewV7(b *testing.B) {
	buf := make([]byte, 0, 36)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendNewV7(buf[:0])
	}
	sinkBytes = buf
}

func BenchmarkNewV7BaselineGoogleUUID(b *testing.B) {
	b.ReportAllocs()
	var s string
	for b.Loop() {
		s = uuid.Must(uuid.NewV7()).String()
	}
	sinkBytes = []byte(s)
}

// BenchmarkAppendString: a user agent of the usual shape, plain ASCII.
func BenchmarkAppendString(b *testing.B) {
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(ua)))
	for b.Loop() {
		buf = appendString(buf[:0], ua)
	}
}
