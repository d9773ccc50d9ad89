package settle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// floorTables are the tables a settlement pass writes rows into.
var floorTables = []string{"commissions", "ledger_pending", "attributions", "ledger_postings", "ledger_transfers", "outbox"}

// storageFloor is the settlement benchmark's baseline, measured in the same
// run on the same server right after the full pass: the rows the pass wrote
// are read out (untimed), then written again by binary COPY, as the pass
// writes them, into empty copies of their tables (LIKE … INCLUDING ALL: the
// same columns, defaults, identities, CHECKs and indexes; no foreign keys,
// which the pass leaves NULL, and no triggers, which fire on none of its
// inserts). Table by table, the rows, in heap order (about the order they
// were written), go in batches parts taken one after another by workers
// sessions, as the pass's workers take its batches. It logs each table's
// share and returns the wall time and the CPU of the whole process tree
// (autovacuum included, as in the pass) summed over the tables. The pass's
// time and CPU above it are the settler's own work: reading the queue and
// the lines, the ClickHouse lookup, deciding, the ledger's locks and
// balances, deleting the queue rows, and more statements per batch.
func storageFloor(b *testing.B, pool *pgxpool.Pool, workers, batches int) (time.Duration, float64) {
	b.Helper()
	ctx := context.Background()
	var (
		wall  time.Duration
		cpu   float64
		parts []string
	)
	for _, t := range floorTables {
		// Identity columns are left to the copy's own sequence, as the pass
		// leaves them to Postgres (or reserves them with nextval).
		cols := queryOne[string](b, pool, `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = '' AND attgenerated = ''`, t)
		var buf bytes.Buffer
		err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			_, err := c.Conn().PgConn().CopyTo(ctx, &buf, "COPY (SELECT "+cols+" FROM "+t+") TO STDOUT (FORMAT binary)")
			return err
		})
		if err != nil {
			b.Fatalf("cannot read %s: %v", t, err)
		}
		split, err := splitBinaryCopy(buf.Bytes(), batches)
		if err != nil {
			b.Fatalf("cannot split %s: %v", t, err)
		}
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS floor_"+t+"; CREATE TABLE floor_"+t+" (LIKE "+t+" INCLUDING ALL)"); err != nil {
			b.Fatalf("cannot create floor_%s: %v", t, err)
		}
		cpu0 := treeCPU(b)
		start := time.Now()
		err = copyParts(ctx, pool, "COPY floor_"+t+" ("+cols+") FROM STDIN (FORMAT binary)", split, workers)
		w, c := time.Since(start), treeCPU(b)-cpu0
		if err != nil {
			b.Fatalf("storage floor, %s: %v", t, err)
		}
		if _, err := pool.Exec(ctx, "DROP TABLE floor_"+t); err != nil {
			b.Fatalf("cannot drop floor_%s: %v", t, err)
		}
		wall, cpu = wall+w, cpu+c
		parts = append(parts, fmt.Sprintf("%s %d rows %s %.1f CPU s", t, split.tuples(), w.Round(time.Millisecond), c))
	}
	b.Logf("storage floor (the full pass's rows copied again, %d parts per table, %d sessions): %s, %.1f CPU s: %s",
		batches, workers, wall.Round(time.Millisecond), cpu, strings.Join(parts, "; "))
	return wall, cpu
}

// copyParts runs copySQL for every part of split, the parts taken in turn
// by workers sessions; the first error stops the others.
func copyParts(ctx context.Context, pool *pgxpool.Pool, copySQL string, split binaryCopy, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int, len(split.parts))
	for i := range split.parts {
		next <- i
	}
	close(next)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			errs <- pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
				for i := range next {
					tag, err := c.Conn().PgConn().CopyFrom(ctx, split.reader(i), copySQL)
					if err == nil && tag.RowsAffected() != int64(split.rows[i]) {
						err = fmt.Errorf("part %d: copied %d rows of %d", i, tag.RowsAffected(), split.rows[i])
					}
					if err != nil {
						cancel()
						return err
					}
				}
				return nil
			})
		}()
	}
	var all []error
	for range workers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// copySignature and copyTrailer open and close a binary COPY stream.
var (
	copySignature = []byte("PGCOPY\n\xff\r\n\x00")
	copyTrailer   = []byte{0xff, 0xff}
)

// binaryCopy is a binary COPY stream cut at tuple boundaries: its header
// and the tuples of each part (slices of the stream, not copies).
type binaryCopy struct {
	header []byte
	parts  [][]byte
	rows   []int // tuples per part
}

// reader returns part i as a stream of its own: header, tuples, trailer.
func (c binaryCopy) reader(i int) io.Reader {
	return io.MultiReader(bytes.NewReader(c.header), bytes.NewReader(c.parts[i]), bytes.NewReader(copyTrailer))
}

func (c binaryCopy) tuples() int {
	n := 0
	for _, r := range c.rows {
		n += r
	}
	return n
}

// splitBinaryCopy cuts a binary COPY stream into n parts of consecutive
// tuples whose sizes differ by one at most (fewer parts when there are fewer
// tuples). It refuses whatever is not one whole stream without OIDs:
// no signature, a header or a tuple cut short, a field count below -1 or a
// field length below -1 (NULL), bytes after the trailer.
func splitBinaryCopy(data []byte, n int) (binaryCopy, error) {
	if n < 1 {
		return binaryCopy{}, fmt.Errorf("%d parts, want 1 or more", n)
	}
	fixed := len(copySignature) + 8 // flags, header extension length
	if len(data) < fixed || !bytes.Equal(data[:len(copySignature)], copySignature) {
		return binaryCopy{}, errors.New("not a binary COPY stream: no signature")
	}
	if flags := binary.BigEndian.Uint32(data[len(copySignature):]); flags&(1<<16) != 0 {
		return binaryCopy{}, errors.New("tuples with OIDs are not supported")
	}
	ext := uint64(binary.BigEndian.Uint32(data[fixed-4:]))
	if ext > uint64(len(data)-fixed) {
		return binaryCopy{}, errors.New("the header extension runs past the end")
	}
	pos := fixed + int(ext)
	c := binaryCopy{header: data[:pos]}
	var starts []int // where each tuple begins, then where the trailer does
	for {
		if len(data)-pos < 2 {
			return binaryCopy{}, errors.New("the stream ends without its trailer")
		}
		fields := int16(binary.BigEndian.Uint16(data[pos:]))
		if fields == -1 {
			break
		}
		if fields < 0 {
			return binaryCopy{}, fmt.Errorf("tuple %d has %d fields", len(starts), fields)
		}
		starts = append(starts, pos)
		pos += 2
		for range fields {
			if len(data)-pos < 4 {
				return binaryCopy{}, fmt.Errorf("tuple %d is cut short", len(starts)-1)
			}
			size := int64(int32(binary.BigEndian.Uint32(data[pos:])))
			pos += 4
			if size < -1 || size > int64(len(data)-pos) {
				return binaryCopy{}, fmt.Errorf("tuple %d has a field of length %d", len(starts)-1, size)
			}
			pos += int(max(size, 0))
		}
	}
	if extra := len(data) - pos - len(copyTrailer); extra != 0 {
		return binaryCopy{}, fmt.Errorf("%d bytes after the trailer", extra)
	}
	starts = append(starts, pos)
	tuples := len(starts) - 1
	for i := range n {
		from, to := i*tuples/n, (i+1)*tuples/n
		if from < to {
			c.parts = append(c.parts, data[starts[from]:starts[to]])
			c.rows = append(c.rows, to-from)
		}
	}
	return c, nil
}

// copyStream builds a binary COPY stream with a 2-byte header extension
// from tuples of fields (nil is NULL).
func copyStream(tuples ...[][]byte) []byte {
	out := append(append([]byte{}, copySignature...), 0, 0, 0, 0, 0, 0, 0, 2, 0xab, 0xcd)
	for _, t := range tuples {
		out = binary.BigEndian.AppendUint16(out, uint16(len(t)))
		for _, f := range t {
			if f == nil {
				out = binary.BigEndian.AppendUint32(out, 0xffffffff)
				continue
			}
			out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
	}
	return append(out, copyTrailer...)
}

// joinParts is the stream the parts of c make when sent one after another
// without their own headers and trailers: the original stream.
func joinParts(c binaryCopy) []byte {
	out := append([]byte{}, c.header...)
	for _, p := range c.parts {
		out = append(out, p...)
	}
	return append(out, copyTrailer...)
}

// TestSplitBinaryCopy checks the benchmark's splitter on a stream of five
// tuples (one with a NULL, one with no fields, one with an empty field) and
// on broken streams.
func TestSplitBinaryCopy(t *testing.T) {
	tuples := [][][]byte{{[]byte("a"), []byte("bc")}, {[]byte("d"), nil}, {}, {[]byte("efgh")}, {{}, []byte("i")}}
	stream := copyStream(tuples...)
	c, err := splitBinaryCopy(stream, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][][][]byte{tuples[:2], tuples[2:]} {
		got, err := io.ReadAll(c.reader(i))
		if err != nil || !bytes.Equal(got, copyStream(want...)) {
			t.Errorf("part %d is %q (%v), want %q", i, got, err, copyStream(want...))
		}
	}
	if len(c.parts) != 2 || c.rows[0] != 2 || c.rows[1] != 3 || !bytes.Equal(joinParts(c), stream) {
		t.Fatalf("split in 2: %q, rows %v", c.parts, c.rows)
	}
	if c, err := splitBinaryCopy(stream, 9); err != nil || len(c.parts) != 5 || c.tuples() != 5 {
		t.Fatalf("split in 9: %d parts, %v, %v; want 5 parts of one tuple", len(c.parts), c.rows, err)
	}
	if c, err := splitBinaryCopy(copyStream(), 3); err != nil || len(c.parts) != 0 {
		t.Fatalf("no tuples: %d parts, %v", len(c.parts), err)
	}
	withOIDs := bytes.Clone(stream)
	withOIDs[len(copySignature)+1] = 1
	hugeExt := bytes.Clone(stream)
	copy(hugeExt[len(copySignature)+4:], []byte{0xff, 0xff, 0xff, 0xf0})
	negFields := copyStream([][]byte{[]byte("a")})
	copy(negFields[len(negFields)-2-7:], []byte{0xff, 0xfb})
	negLen := copyStream([][]byte{[]byte("a")})
	copy(negLen[len(negLen)-2-5:], []byte{0xff, 0xff, 0xff, 0xfe})
	hugeLen := copyStream([][]byte{[]byte("a")})
	copy(hugeLen[len(hugeLen)-2-5:], []byte{0x7f, 0xff, 0xff, 0xf0})
	for name, bad := range map[string][]byte{
		"short header":    stream[:10],
		"no trailer":      stream[:len(stream)-2],
		"tuple cut short": stream[:len(stream)-5],
		"no signature":    append([]byte("COPY"), stream[4:]...),
		"after trailer":   append(bytes.Clone(stream), 0),
		"OIDs":            withOIDs,
		"huge extension":  hugeExt,
		"-5 fields":       negFields,
		"length -2":       negLen,
		"length too long": hugeLen,
	} {
		if _, err := splitBinaryCopy(bad, 2); err == nil {
			t.Errorf("%s: splitBinaryCopy(%q) accepted a broken stream", name, bad)
		}
	}
	if _, err := splitBinaryCopy(stream, 0); err == nil {
		t.Error("splitBinaryCopy(stream, 0) accepted 0 parts")
	}
}

// FuzzSplitBinaryCopy: any bytes are refused or split into parts that make
// the stream again and each parse alone into their tuples; a stream built
// from any fields splits into all of them.
func FuzzSplitBinaryCopy(f *testing.F) {
	f.Add([]byte("a"), []byte("bc"), uint8(2), copyStream([][]byte{[]byte("x"), nil}, [][]byte{}))
	f.Add([]byte{}, []byte(nil), uint8(1), []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, a, b []byte, n uint8, raw []byte) {
		parts := int(n%8) + 1
		built := copyStream([][]byte{a, b}, [][]byte{b}, [][]byte{}, [][]byte{a})
		if c, err := splitBinaryCopy(built, parts); err != nil || c.tuples() != 4 || !bytes.Equal(joinParts(c), built) {
			t.Fatalf("built stream: %v, %d tuples", err, c.tuples())
		}
		c, err := splitBinaryCopy(raw, parts)
		if err != nil {
			return
		}
		if !bytes.Equal(joinParts(c), raw) || len(c.parts) > parts {
			t.Fatalf("%q split into %d parts that join into %q", raw, len(c.parts), joinParts(c))
		}
		for i := range c.parts {
			one, err := io.ReadAll(c.reader(i))
			if err != nil {
				t.Fatal(err)
			}
			if again, err := splitBinaryCopy(one, 1); err != nil || again.tuples() != c.rows[i] {
				t.Fatalf("part %d (%q) parses into %d tuples, %v; want %d", i, one, again.tuples(), err, c.rows[i])
			}
		}
	})
}
