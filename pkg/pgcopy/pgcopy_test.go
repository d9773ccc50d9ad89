package pgcopy_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openaff/affiliate/pkg/pgcopy"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type state string // a named string type, as the settler's states are

var cols = []pgcopy.Column{
	pgcopy.Col("i8", pgcopy.Int8), pgcopy.Col("i4", pgcopy.Int4), pgcopy.Col("i2", pgcopy.Int2), pgcopy.Col("t", pgcopy.Text), pgcopy.Col("c", pgcopy.Text),
	pgcopy.Col("b", pgcopy.Bytea), pgcopy.Col("ok", pgcopy.Bool), pgcopy.Col("at", pgcopy.Timestamptz), pgcopy.Col("u", pgcopy.UUID), pgcopy.Col("j", pgcopy.JSONB),
}

const tableSQL = `(i8 bigint, i4 integer, i2 smallint, t text, c char(3), b bytea, ok boolean, at timestamptz, u uuid, j jsonb)`

// testRows are edge values of every supported type and Go representation.
func testRows() [][]any {
	s, n := "EUR", int64(-7)
	at := time.Date(2026, 11, 30, 23, 59, 59, 999_999_999, time.FixedZone("x", 3600))
	u := uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	return [][]any{
		{int64(math.MaxInt64), int32(math.MaxInt32), int16(math.MaxInt16), "plain", "EUR", []byte{0, 1, 0xff}, true,
			at, u, json.RawMessage(`{"a": [1, 2.5, "x"], "b": null}`)},
		{int64(math.MinInt64), int64(math.MinInt32), int64(math.MinInt16), "", "USD", []byte{}, false,
			time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), [16]byte(u), `[]`},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		{&n, 7, int32(-1), state("partially_voided"), &s, (*[]byte)(nil), (*bool)(nil), (*time.Time)(nil),
			u.String(), []byte(`"ünïcödé-free"`)},
		{0, 0, 0, "tab\tnew\nline, 'quote' \\ ünï", "Kč ", []byte(nil), true, time.Unix(0, 0),
			(*uuid.UUID)(nil), nil},
		{int64(1), int32(2), int16(3), strings.Repeat("long ", 2000), "GBP", []byte(strings.Repeat("b", 5000)), false,
			time.Date(1800, 1, 1, 0, 0, 0, 123_456_789, time.UTC), uuid.Nil, `{"k": "` + strings.Repeat("v", 3000) + `"}`},
	}
}

func setup(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return ctx, conn
}

// TestCopyMatchesPgx writes the same rows with pgcopy and with pgx's
// CopyFrom and checks that the two tables hold the same values, row by row.
func TestCopyMatchesPgx(t *testing.T) {
	ctx, conn := setup(t)
	for _, name := range []string{"by_pgcopy", "by_pgx"} {
		if _, err := conn.Exec(ctx, `CREATE TEMP TABLE `+name+` (n serial, `+tableSQL[1:]); err != nil {
			t.Fatal(err)
		}
	}
	rows := testRows()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tab := pgcopy.NewTable("by_pgcopy", cols...)
	n, err := tab.Copy(ctx, tx, rows)
	if err != nil || n != int64(len(rows)) {
		t.Fatalf("pgcopy: %d rows, %v; want %d", n, err, len(rows))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"by_pgx"}, names, pgx.CopyFromRows(rows)); err != nil {
		t.Fatalf("pgx: %v", err)
	}
	var diff int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (
		(SELECT * FROM by_pgcopy EXCEPT SELECT * FROM by_pgx) UNION ALL (SELECT * FROM by_pgx EXCEPT SELECT * FROM by_pgcopy)) d`).Scan(&diff)
	if err != nil || diff != 0 {
		t.Fatalf("%d rows differ between pgcopy and pgx (%v)", diff, err)
	}
	// And the values are what they should be, not only the same mistake twice.
	var i8 int64
	var txt, ch, js string
	var u uuid.UUID
	err = conn.QueryRow(ctx, `SELECT i8, t, c, u, j::text FROM by_pgcopy WHERE n = 4`).Scan(&i8, &txt, &ch, &u, &js)
	if err != nil {
		t.Fatal(err)
	}
	if i8 != -7 || txt != "partially_voided" || ch != "EUR" || u.String() != "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" || js != `"ünïcödé-free"` {
		t.Errorf("row 4 = %d %q %q %s %s", i8, txt, ch, u, js)
	}
	var at time.Time
	err = conn.QueryRow(ctx, `SELECT at FROM by_pgcopy WHERE n = 6`).Scan(&at)
	if want := time.Date(1800, 1, 1, 0, 0, 0, 123_456_000, time.UTC); err != nil || !at.Equal(want) {
		t.Errorf("1800 time = %v, %v; want %v", at, err, want)
	}
	// A transaction that has ended is refused, not used in autocommit.
	if _, err := tab.Copy(ctx, tx, rows); err == nil ||
		err.Error() != "pgcopy: cannot copy into by_pgcopy: the transaction has ended" {
		t.Errorf("copy in a committed transaction: %v", err)
	}
	var count int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM by_pgcopy`).Scan(&count); err != nil || count != len(rows) {
		t.Errorf("by_pgcopy has %d rows (%v), want %d", count, err, len(rows))
	}
	var nulls int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM by_pgcopy WHERE n = 3 AND num_nulls(i8, i4, i2, t, c, b, ok, at, u, j) = 10`).Scan(&nulls); err != nil || nulls != 1 {
		t.Errorf("the all-NULL row: %d, %v", nulls, err)
	}
}

// TestCopyRefusesBadValues: a value of the wrong kind or out of range is an
// error naming the row and column, and no row reaches the table.
func TestCopyRefusesBadValues(t *testing.T) {
	ctx, conn := setup(t)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE bad `+tableSQL); err != nil {
		t.Fatal(err)
	}
	tab := pgcopy.NewTable("bad", cols...)
	good := testRows()[0]
	for _, tc := range []struct {
		col  int
		v    any
		want string
	}{
		{1, int64(math.MaxInt32) + 1, "row 1, column i4 (int4): 2147483648 is out of range for int4"},
		{2, -40000, "row 1, column i2 (int2): -40000 is out of range for int2"},
		{0, "12", "row 1, column i8 (int8): a string cannot be written as int8"},
		{3, 12, "row 1, column t (text): an integer cannot be written as text"},
		{6, "true", "row 1, column ok (bool): a string cannot be written as bool"},
		{7, "2026-01-01", "row 1, column at (timestamptz): a string cannot be written as timestamptz"},
		{8, "not-a-uuid", "row 1, column u (uuid): invalid UUID length: 10"},
		{9, 1.5, "row 1, column j (jsonb): a float64 value cannot be written as jsonb"},
	} {
		bad := append([]any(nil), good...)
		bad[tc.col] = tc.v
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tab.Copy(ctx, tx, [][]any{good, bad})
		if err == nil || err.Error() != "pgcopy: "+tc.want {
			t.Errorf("column %s = %#v: error %v, want %q", cols[tc.col].Name, tc.v, err, tc.want)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("the connection is unusable after a refused row: %v", err)
		}
	}
	if _, err := tab.CopyConn(ctx, conn.PgConn(), [][]any{good[:3]}); err == nil || err.Error() != "pgcopy: row 0 has 3 values for 10 columns" {
		t.Errorf("short row: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM bad`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows written by refused copies (%v)", n, err)
	}
	// A value Postgres itself refuses (invalid JSON) fails the whole COPY.
	bad := append([]any(nil), good...)
	bad[9] = `{"a": `
	if _, err := tab.CopyConn(ctx, conn.PgConn(), [][]any{good, bad}); err == nil || !strings.Contains(err.Error(), "json") {
		t.Errorf("invalid JSON: %v", err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM bad`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows written by a failed copy (%v)", n, err)
	}
}

// FuzzAppend encodes fuzzed values and decodes the stream with pgx's own
// binary decoders: every value must come back as it went in (times to the
// microsecond, toward the past).
func FuzzAppend(f *testing.F) {
	f.Add(int64(0), "", []byte{}, false, int64(0), []byte{})
	f.Add(int64(math.MinInt64), "ünï\x00", []byte{0xff}, true, int64(-1), make([]byte, 16))
	f.Add(int64(math.MaxInt64), strings.Repeat("x", 300), []byte(nil), true, int64(math.MaxInt64/1000), []byte("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"))
	tab := pgcopy.NewTable("t", pgcopy.Col("i8", pgcopy.Int8), pgcopy.Col("i4", pgcopy.Int4),
		pgcopy.Col("t", pgcopy.Text), pgcopy.Col("b", pgcopy.Bytea), pgcopy.Col("ok", pgcopy.Bool),
		pgcopy.Col("at", pgcopy.Timestamptz), pgcopy.Col("u", pgcopy.UUID))
	m := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, i int64, s string, b []byte, ok bool, ns int64, ub []byte) {
		at := time.Unix(0, ns)
		var u any = string(ub)
		if len(ub) == 16 {
			u = [16]byte(ub)
		}
		row := []any{i, i, s, b, ok, at, u}
		buf, err := tab.Append(nil, [][]any{row})
		wantErr := (i < math.MinInt32 || i > math.MaxInt32)
		if len(ub) != 16 {
			_, perr := uuid.ParseBytes(ub)
			wantErr = wantErr || perr != nil
		}
		if wantErr {
			if err == nil {
				t.Fatalf("no error for i4 = %d, uuid %q", i, ub)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fields := parse(t, buf, 7)
		var gi8 int64
		var gi4 int32
		var gs string
		var gb []byte
		var gok bool
		var gat time.Time
		var gu pgtype.UUID
		for k, c := range []struct {
			oid uint32
			dst any
		}{{pgtype.Int8OID, &gi8}, {pgtype.Int4OID, &gi4}, {pgtype.TextOID, &gs}, {pgtype.ByteaOID, &gb},
			{pgtype.BoolOID, &gok}, {pgtype.TimestamptzOID, &gat}, {pgtype.UUIDOID, &gu}} {
			if fields[k] == nil {
				if k == 3 && b == nil {
					continue
				}
				t.Fatalf("field %d is NULL", k)
			}
			if err := m.Scan(c.oid, pgtype.BinaryFormatCode, fields[k], c.dst); err != nil {
				t.Fatalf("field %d: %v", k, err)
			}
		}
		wantAt := time.UnixMicro(at.Unix()*1e6 + int64(at.Nanosecond()/1000))
		if gi8 != i || int64(gi4) != i || gs != s || string(gb) != string(b) || gok != ok || !gat.Equal(wantAt) {
			t.Fatalf("round trip: %d %d %q %x %v %v; want %d %q %x %v %v", gi8, gi4, gs, gb, gok, gat, i, s, b, ok, wantAt)
		}
		want, _ := uuid.ParseBytes(ub)
		if len(ub) == 16 {
			want = uuid.UUID(ub)
		}
		if gu.Bytes != want {
			t.Fatalf("uuid %x, want %x", gu.Bytes, want)
		}
	})
}

// parse splits a one-row binary COPY stream into its fields (nil for NULL).
func parse(t *testing.T, buf []byte, ncols int) [][]byte {
	t.Helper()
	const hdr = "PGCOPY\n\xff\r\n\x00"
	if len(buf) < len(hdr)+8+2 || string(buf[:len(hdr)]) != hdr {
		t.Fatalf("bad header %q", buf[:min(len(buf), 19)])
	}
	p := buf[len(hdr)+8:]
	if n := int(binary.BigEndian.Uint16(p)); n != ncols {
		t.Fatalf("row has %d fields, want %d", n, ncols)
	}
	p = p[2:]
	var out [][]byte
	for range ncols {
		n := int32(binary.BigEndian.Uint32(p))
		p = p[4:]
		if n < 0 {
			out = append(out, nil)
			continue
		}
		out = append(out, p[:n])
		p = p[n:]
	}
	if len(p) != 2 || binary.BigEndian.Uint16(p) != 0xffff {
		t.Fatalf("trailer %x", p)
	}
	return out
}

// TestCheck: Check names every declared column whose type is not the
// table's, and every column the table lacks; a matching declaration passes.
func TestCheck(t *testing.T) {
	ctx, conn := setup(t)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE chk (a bigint, b integer, c timestamptz, v varchar(10), ch char(3))`); err != nil {
		t.Fatal(err)
	}
	good := pgcopy.NewTable("chk", pgcopy.Col("a", pgcopy.Int8), pgcopy.Col("b", pgcopy.Int4),
		pgcopy.Col("c", pgcopy.Timestamptz), pgcopy.Col("v", pgcopy.Text), pgcopy.Col("ch", pgcopy.Text))
	if err := good.Check(ctx, conn); err != nil {
		t.Errorf("matching declaration: %v", err)
	}
	bad := pgcopy.NewTable("chk", pgcopy.Col("a", pgcopy.Int8), pgcopy.Col("b", pgcopy.Int8),
		pgcopy.Col("c", pgcopy.Int8), pgcopy.Col("d", pgcopy.Text))
	err := bad.Check(ctx, conn)
	want := "pgcopy: chk.b is integer, declared int8\npgcopy: chk.c is timestamp with time zone, declared int8\npgcopy: chk has no column d"
	if err == nil || err.Error() != want {
		t.Errorf("mismatched declaration: %v, want\n%s", err, want)
	}
	if err := pgcopy.NewTable("no_such_table", pgcopy.Col("a", pgcopy.Int8)).Check(ctx, conn); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("missing table: %v", err)
	}
	for _, c := range []pgcopy.Column{pgcopy.Col("", pgcopy.Int8), pgcopy.Col("x", pgcopy.Type(0)), pgcopy.Col("x", pgcopy.Type(99))} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTable accepted column %+v", c)
				}
			}()
			pgcopy.NewTable("t", c)
		}()
	}
}
