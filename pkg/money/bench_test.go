package money

import (
	"math/big"
	"strconv"
	"testing"
)

// Each benchmark has a baseline in the same run: the obvious alternative a
// reader might reach for (strconv, math/big).

var sinkInt int64
var sinkBytes []byte
var sinkString string

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		v, err := Parse(eur, "149.90")
		if err != nil {
			b.Fatal(err)
		}
		sinkInt = v
	}
}

// BenchmarkParseBaselineBigRat is the exact-but-slow way: math/big.
func BenchmarkParseBaselineBigRat(b *testing.B) {
	b.ReportAllocs()
	hundred := big.NewRat(100, 1)
	for b.Loop() {
		r, ok := new(big.Rat).SetString("149.90")
		if !ok {
			b.Fatal("SetString")
		}
		r.Mul(r, hundred)
		sinkInt = r.Num().Int64()
	}
}

// BenchmarkParseBaselineStrconvInt is a lower bound: integer parsing alone.
func BenchmarkParseBaselineStrconvInt(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		v, err := strconv.ParseInt("14990", 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		sinkInt = v
	}
}

func BenchmarkAppendFormat(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		sinkBytes = AppendFormat(buf[:0], eur, 14990)
	}
}

// BenchmarkAppendFormatBaselineStrconv appends the integer without the point.
func BenchmarkAppendFormatBaselineStrconv(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		sinkBytes = strconv.AppendInt(buf[:0], 14990, 10)
	}
}

func BenchmarkFormat(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = Format(eur, 14990)
	}
}

func BenchmarkApplyRate(b *testing.B) {
	b.ReportAllocs()
	rate := mustRate("12.345")
	base := int64(1)
	for b.Loop() {
		base++
		sinkInt = ApplyRate(base, rate)
	}
}

// BenchmarkApplyRateBaselineBigRat is the reference implementation of the
// property test.
func BenchmarkApplyRateBaselineBigRat(b *testing.B) {
	b.ReportAllocs()
	rate := mustRate("12.345")
	base := int64(1)
	for b.Loop() {
		base++
		sinkInt = refApplyRate(base, rate)
	}
}

func mustRate(s string) Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic(err)
	}
	return r
}
