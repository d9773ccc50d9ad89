// Package qr renders QR codes of tracking links as SVG, with the
// maintained github.com/yeqown/go-qrcode/v2 encoder.
package qr

import (
	"bytes"
	"fmt"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// MaxTextBytes bounds the encoded text (QR capacity is about 2.9 kB).
const MaxTextBytes = 2048

// svgWriter implements qrcode.Writer by drawing one rect per dark module.
type svgWriter struct{ buf *bytes.Buffer }

const quiet = 4 // modules of white border the standard asks for

func (w svgWriter) Write(mat qrcode.Matrix) error {
	bm := mat.Bitmap()
	n := len(bm)
	size := n + 2*quiet
	fmt.Fprintf(w.buf, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		size, size, size*6, size*6)
	fmt.Fprintf(w.buf, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(w.buf, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	w.buf.WriteString(`"/></svg>`)
	return nil
}

func (w svgWriter) Close() error { return nil }

// SVG returns an SVG image of the QR code of text.
func SVG(text string) ([]byte, error) {
	if len(text) == 0 || len(text) > MaxTextBytes {
		return nil, fmt.Errorf("qr text must be 1 to %d bytes", MaxTextBytes)
	}
	q, err := qrcode.New(text)
	if err != nil {
		return nil, fmt.Errorf("cannot encode qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := q.Save(svgWriter{&buf}); err != nil {
		return nil, fmt.Errorf("cannot draw qr code: %w", err)
	}
	return buf.Bytes(), nil
}
