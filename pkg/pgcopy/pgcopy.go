// Package pgcopy writes rows into Postgres with COPY … FROM STDIN in the
// binary format, encoding each value by the column type the caller
// declares.
//
// pgx's CopyFrom does the same for any type pgx knows, but it first asks the
// server for the columns' types (a round trip per COPY) and then encodes
// every value through pgtype.Map: two map lookups for the encode plan and an
// interface call per value. On the settler's hot path (attributions,
// commissions and the ledger's transfers, postings and pending rows, about
// 16 rows per order) that was a quarter of the settler's CPU
// (settler/README.md). Here the caller states each column's type once, so a
// value costs a type switch and an append.
//
// Supported column types are the ones those tables use: Int8, Int4, Int2,
// Text (also varchar and char(n): the same wire format), Bytea, Bool,
// Timestamptz, UUID and JSONB. A value may be nil (NULL), a pointer (nil is
// NULL), or a Go value of a matching kind, named types included; anything
// else is an error naming the column, and nothing is sent.
package pgcopy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Type is a column's Postgres type, which decides the value's wire format.
type Type uint8

// The column types pgcopy encodes.
const (
	Int8        Type = iota + 1 // bigint
	Int4                        // integer
	Int2                        // smallint
	Text                        // text, varchar, char(n)
	Bytea                       // bytea
	Bool                        // boolean
	Timestamptz                 // timestamp with time zone
	UUID                        // uuid
	JSONB                       // jsonb
)

// types names each Type and lists the Postgres types (as format_type
// prints them) a column of it may have; the zero entry is no Type.
var types = [...]struct {
	name string
	sql  []string
}{
	Int8:        {"int8", []string{"bigint"}},
	Int4:        {"int4", []string{"integer"}},
	Int2:        {"int2", []string{"smallint"}},
	Text:        {"text", []string{"text", "character varying", "character"}},
	Bytea:       {"bytea", []string{"bytea"}},
	Bool:        {"bool", []string{"boolean"}},
	Timestamptz: {"timestamptz", []string{"timestamp with time zone"}},
	UUID:        {"uuid", []string{"uuid"}},
	JSONB:       {"jsonb", []string{"jsonb"}},
}

func (t Type) valid() bool { return t > 0 && int(t) < len(types) }

func (t Type) String() string {
	if t.valid() {
		return types[t].name
	}
	return fmt.Sprintf("pgcopy.Type(%d)", t)
}

// Column is a column's name and type.
type Column struct {
	Name string
	Type Type
}

// Col returns the column name of type t.
func Col(name string, t Type) Column { return Column{Name: name, Type: t} }

// Table is a COPY target: a table and the columns every row fills, in order.
type Table struct {
	table string
	sql   string
	cols  []Column
}

// NewTable returns the COPY target for table's columns. It panics on a
// column without a name or with a Type that is not one of the constants: the
// tables are declared once, in package variables.
func NewTable(table string, cols ...Column) *Table {
	names := make([]string, len(cols))
	for i, c := range cols {
		if c.Name == "" || !c.Type.valid() {
			panic(fmt.Sprintf("pgcopy: table %s, column %d: name %q, type %v", table, i, c.Name, c.Type))
		}
		names[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	return &Table{
		table: table,
		sql:   "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(names, ", ") + ") FROM STDIN (FORMAT binary)",
		cols:  cols,
	}
}

// Columns returns the column names, in order.
func (t *Table) Columns() []string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.Name
	}
	return names
}

// Copy writes rows into the table within tx and returns the number of rows
// copied. A row must have one value per column. Like pgx's Tx.CopyFrom, it
// refuses a transaction that has ended: the rows would otherwise be written
// outside any transaction, on the connection the Tx used.
func (t *Table) Copy(ctx context.Context, tx pgx.Tx, rows [][]any) (int64, error) {
	conn := tx.Conn().PgConn()
	if conn.TxStatus() == 'I' {
		return 0, fmt.Errorf("pgcopy: cannot copy into %s: the transaction has ended", t.table)
	}
	return t.CopyConn(ctx, conn, rows)
}

// CopyConn is Copy on a connection.
func (t *Table) CopyConn(ctx context.Context, conn *pgconn.PgConn, rows [][]any) (int64, error) {
	bp := bufs.Get().(*[]byte)
	buf, err := t.Append((*bp)[:0], rows)
	if err != nil {
		bufs.Put(bp)
		return 0, err
	}
	*bp = buf
	tag, err := conn.CopyFrom(ctx, bytes.NewReader(buf), t.sql)
	if err != nil {
		// On some errors (a cancelled context, a broken connection) pgconn
		// returns before its sending goroutine has stopped reading buf: the
		// buffer is left to the garbage collector, not reused.
		return 0, err
	}
	if cap(buf) <= maxPooled {
		bufs.Put(bp)
	}
	return tag.RowsAffected(), nil
}

// maxPooled is the largest buffer kept for reuse; a rare huge COPY does not
// stay in memory.
const maxPooled = 16 << 20

// Querier is what Check reads the schema with: a *pgx.Conn, *pgxpool.Pool
// or pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Check compares the declared column types with the table's in the
// database conn is connected to: a Type written to a column of another
// type would be refused by the server, or, where the byte lengths agree
// (an Int8 into a timestamptz), stored as something else. The packages that
// declare tables call it in their tests.
func (t *Table) Check(ctx context.Context, db Querier) error {
	rows, err := db.Query(ctx, `SELECT a.attname, format_type(a.atttypid, NULL)
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, t.table)
	if err != nil {
		return fmt.Errorf("pgcopy: cannot read the columns of %s: %w", t.table, err)
	}
	actual := map[string]string{}
	var name, typ string
	if _, err := pgx.ForEachRow(rows, []any{&name, &typ}, func() error { actual[name] = typ; return nil }); err != nil {
		return fmt.Errorf("pgcopy: cannot read the columns of %s: %w", t.table, err)
	}
	var errs []error
	for _, c := range t.cols {
		got, ok := actual[c.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("pgcopy: %s has no column %s", t.table, c.Name))
		case !slices.Contains(types[c.Type].sql, got):
			errs = append(errs, fmt.Errorf("pgcopy: %s.%s is %s, declared %s", t.table, c.Name, got, c.Type))
		}
	}
	return errors.Join(errs...)
}

// bufs holds COPY buffers for reuse: a settlement batch's COPY is hundreds
// of kilobytes, which grown from nil every time cost more garbage
// collection than the encoding.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// header is the binary COPY signature, flags and header extension length.
var header = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// Append appends the complete binary COPY stream of rows (header, rows,
// trailer) to dst.
func (t *Table) Append(dst []byte, rows [][]any) ([]byte, error) {
	dst = append(dst, header...)
	for i, row := range rows {
		if len(row) != len(t.cols) {
			return nil, fmt.Errorf("pgcopy: row %d has %d values for %d columns", i, len(row), len(t.cols))
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(row)))
		for j, v := range row {
			var err error
			if dst, err = appendValue(dst, t.cols[j].Type, v); err != nil {
				return nil, fmt.Errorf("pgcopy: row %d, column %s (%s): %w", i, t.cols[j].Name, t.cols[j].Type, err)
			}
		}
	}
	return binary.BigEndian.AppendUint16(dst, 0xffff), nil
}

// pgEpochMicros is Postgres's timestamp origin, 2000-01-01 00:00:00 UTC, in Unix
// microseconds.
const pgEpochMicros = 946684800 * 1_000_000

// appendValue appends v's length and bytes as type typ, or -1 for NULL.
// The common Go types take the type switch; named types and pointers go
// through reflection.
func appendValue(dst []byte, typ Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return appendNull(dst), nil
	case int64:
		return appendInt(dst, typ, x)
	case int:
		return appendInt(dst, typ, int64(x))
	case int32:
		return appendInt(dst, typ, int64(x))
	case int16:
		return appendInt(dst, typ, int64(x))
	case string:
		return appendBytes(dst, typ, x, nil)
	case []byte:
		if x == nil {
			return appendNull(dst), nil
		}
		return appendBytes(dst, typ, "", x)
	case json.RawMessage:
		if x == nil {
			return appendNull(dst), nil
		}
		return appendBytes(dst, typ, "", x)
	case bool:
		if typ != Bool {
			return nil, mismatch(typ, v)
		}
		b := byte(0)
		if x {
			b = 1
		}
		return append(binary.BigEndian.AppendUint32(dst, 1), b), nil
	case time.Time:
		if typ != Timestamptz {
			return nil, mismatch(typ, v)
		}
		// Postgres keeps microseconds: truncate toward the past, as pgx
		// does, so that a time and its stored value order the same way.
		us := x.Unix()*1_000_000 + int64(x.Nanosecond()/1000) - pgEpochMicros
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), uint64(us)), nil
	case uuid.UUID:
		return appendUUID(dst, typ, x, v)
	case [16]byte:
		return appendUUID(dst, typ, x, v)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return appendNull(dst), nil
		}
		return appendValue(dst, typ, rv.Elem().Interface())
	case reflect.String:
		return appendBytes(dst, typ, rv.String(), nil)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(dst, typ, rv.Int())
	case reflect.Bool:
		return appendValue(dst, typ, rv.Bool())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return appendValue(dst, typ, rv.Bytes())
		}
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var u [16]byte
			reflect.Copy(reflect.ValueOf(&u).Elem(), rv)
			return appendUUID(dst, typ, u, v)
		}
	}
	return nil, mismatch(typ, v)
}

func appendNull(dst []byte) []byte { return binary.BigEndian.AppendUint32(dst, math.MaxUint32) }

func mismatch(typ Type, v any) error {
	return fmt.Errorf("a %T value cannot be written as %s", v, typ)
}

func appendInt(dst []byte, typ Type, n int64) ([]byte, error) {
	switch typ {
	case Int8:
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(dst, 8), uint64(n)), nil
	case Int4:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("%d is out of range for int4", n)
		}
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(dst, 4), uint32(int32(n))), nil
	case Int2:
		if n < math.MinInt16 || n > math.MaxInt16 {
			return nil, fmt.Errorf("%d is out of range for int2", n)
		}
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(dst, 2), uint16(int16(n))), nil
	}
	return nil, fmt.Errorf("an integer cannot be written as %s", typ)
}

// appendBytes appends a text, bytea or jsonb value given as s or, when b is
// not nil, as b. A UUID column also takes its canonical text.
func appendBytes(dst []byte, typ Type, s string, b []byte) ([]byte, error) {
	n := len(s) + len(b)
	switch typ {
	case Text, Bytea:
	case JSONB:
		n++ // the jsonb binary format is a version byte, then the text
	case UUID:
		u, err := uuid.ParseBytes(append([]byte(s), b...))
		if err != nil {
			return nil, err
		}
		return appendUUID(dst, typ, u, s)
	default:
		return nil, fmt.Errorf("a string cannot be written as %s", typ)
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("a value of %d bytes is too long", n)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	if typ == JSONB {
		dst = append(dst, 1)
	}
	return append(append(dst, s...), b...), nil
}

func appendUUID(dst []byte, typ Type, u [16]byte, v any) ([]byte, error) {
	if typ != UUID {
		return nil, mismatch(typ, v)
	}
	return append(binary.BigEndian.AppendUint32(dst, 16), u[:]...), nil
}
