package sink

import (
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// TestReserveStrings: the reach into clickhouse-go's String column still
// finds its buffer (a release that renames it fails here, not silently in
// the sink's speed), sizes it once, and the rows appended after it read
// back unchanged.
func TestReserveStrings(t *testing.T) {
	if colStrField == nil {
		t.Fatal("clickhouse-go's column.String no longer holds a proto.ColStr named col: update reserveStrings")
	}
	c, err := column.Type("String").Column("ua", nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []string{"", "Mozilla/5.0", strings.Repeat("é", 300), "x"}
	reserveStrings(c, rows)
	buf := colStr(c.(*column.String))
	want := len("Mozilla/5.0") + len(strings.Repeat("é", 300)) + 1
	if cap(buf.Buf) < want || cap(buf.Pos) < len(rows) || len(buf.Buf) != 0 {
		t.Fatalf("after reserve: len %d cap %d of %d bytes, cap %d of %d rows", len(buf.Buf), cap(buf.Buf), want, cap(buf.Pos), len(rows))
	}
	before := &buf.Buf[:1][0]
	if _, err := c.Append(rows); err != nil {
		t.Fatal(err)
	}
	if &buf.Buf[0] != before {
		t.Fatal("appending the reserved rows reallocated the buffer")
	}
	if c.Rows() != len(rows) {
		t.Fatalf("%d rows, want %d", c.Rows(), len(rows))
	}
	for i, r := range rows {
		if got := c.Row(i, false).(string); got != r {
			t.Fatalf("row %d = %q, want %q", i, got, r)
		}
	}
	// Another column type is left alone.
	u, err := column.Type("UInt8").Column("bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	reserveStrings(u, rows)
}
