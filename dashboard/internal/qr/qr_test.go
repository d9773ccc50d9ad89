package qr

import (
	"bytes"
	"strings"
	"testing"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

func TestSVG(t *testing.T) {
	svg, err := SVG("https://go.example/r/AbCdEf1234")
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(s, "</svg>") || strings.Count(s, "h1v1h-1z") < 100 {
		t.Fatalf("SVG() = %.200q…", s)
	}
	// The drawing holds exactly the dark modules of the encoder's matrix.
	q, _ := qrcode.New("https://go.example/r/AbCdEf1234")
	var dark int
	var buf bytes.Buffer
	_ = q.Save(countWriter{&dark, &buf})
	if got := strings.Count(s, "h1v1h-1z"); got != dark {
		t.Fatalf("SVG draws %d modules, matrix has %d dark", got, dark)
	}
	if _, err := SVG(""); err == nil {
		t.Error("SVG(\"\") accepted")
	}
	if _, err := SVG(strings.Repeat("x", MaxTextBytes+1)); err == nil {
		t.Error("SVG(too long) accepted")
	}
}

type countWriter struct {
	n   *int
	buf *bytes.Buffer
}

func (c countWriter) Write(m qrcode.Matrix) error {
	for _, row := range m.Bitmap() {
		for _, d := range row {
			if d {
				*c.n++
			}
		}
	}
	return nil
}
func (c countWriter) Close() error { return nil }
