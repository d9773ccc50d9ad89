package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func readAll(t *testing.T, s *Spool) (got []string, skipped int) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		path, ok, err := s.Oldest()
		if err != nil {
			t.Fatalf("Oldest: %v", err)
		}
		if !ok {
			return got, skipped
		}
		n, err := ReadSegment(path, func(r Record) error {
			got = append(got, fmt.Sprintf("%s/%s/%s", r.Topic, r.Key, r.Value))
			return nil
		})
		if err != nil {
			t.Fatalf("ReadSegment: %v", err)
		}
		skipped += n
		if err := s.Remove(path); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	t.Fatal("spool never drained")
	return nil, 0
}

func TestAppendReplayInOrder(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20, 100) // tiny segments: several rotations
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 20; i++ {
		r := Record{Topic: "aff.clicks", Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}
		if err := s.Append(r); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("aff.clicks/k%d/v%d", i, i))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.Empty() || s.Bytes() == 0 || s.OldestAge() <= 0 {
		t.Fatalf("after appends: Empty=%v Bytes=%d OldestAge=%v", s.Empty(), s.Bytes(), s.OldestAge())
	}
	got, skipped := readAll(t, s)
	if fmt.Sprint(got) != fmt.Sprint(want) || skipped != 0 {
		t.Fatalf("replayed %v (skipped %d), want %v", got, skipped, want)
	}
	if !s.Empty() || s.Bytes() != 0 || s.OldestAge() != 0 {
		t.Fatalf("after drain: Empty=%v Bytes=%d OldestAge=%v", s.Empty(), s.Bytes(), s.OldestAge())
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, 1<<20, 1<<20)
	s.Append(Record{Topic: "t", Key: []byte("a"), Value: []byte("1")})
	s.Append(Record{Topic: "t", Key: []byte("b"), Value: []byte("2")})
	s.Close()
	s2, err := Open(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	s2.Append(Record{Topic: "t", Key: []byte("c"), Value: []byte("3")})
	got, _ := readAll(t, s2)
	if fmt.Sprint(got) != "[t/a/1 t/b/2 t/c/3]" {
		t.Fatalf("after reopen replayed %v", got)
	}
}

func TestTornAndCorruptTails(t *testing.T) {
	f := func(name string, mangle func([]byte) []byte, want string, wantSkipped bool) {
		t.Helper()
		dir := t.TempDir()
		s, _ := Open(dir, 1<<20, 1<<20)
		s.Append(Record{Topic: "t", Key: []byte("a"), Value: []byte("1")})
		s.Append(Record{Topic: "t", Key: []byte("b"), Value: []byte("2")})
		s.Close()
		ents, _ := os.ReadDir(dir)
		p := dir + "/" + ents[0].Name()
		data, _ := os.ReadFile(p)
		os.WriteFile(p, mangle(data), 0o600)
		s2, _ := Open(dir, 1<<20, 1<<20)
		got, skipped := readAll(t, s2)
		if fmt.Sprint(got) != want || (skipped > 0) != wantSkipped {
			t.Fatalf("%s: replayed %v skipped %d, want %v skipped>0=%v", name, got, skipped, want, wantSkipped)
		}
	}
	const one = 8 + 2 + 1 + 4 + 1 + 1 // size of one record
	f("intact", func(b []byte) []byte { return b }, "[t/a/1 t/b/2]", false)
	f("torn header", func(b []byte) []byte { return b[:one+3] }, "[t/a/1]", true)
	f("torn body", func(b []byte) []byte { return b[:len(b)-1] }, "[t/a/1]", true)
	f("flipped bit in second", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "[t/a/1]", true)
	f("flipped bit in first", func(b []byte) []byte { b[one-1] ^= 1; return b }, "[t/b/2]", true)
	f("huge length of first", func(b []byte) []byte { b[3] = 0xff; return b }, "[t/b/2]", true)
	f("short length of first", func(b []byte) []byte { b[0] = 7; return b }, "[t/b/2]", true)
	f("first zeroed", func(b []byte) []byte { clear(b[:one]); return b }, "[t/b/2]", true)
	f("huge length", func(b []byte) []byte { b[one+3] = 0xff; return b }, "[t/a/1]", true)
	f("zeros appended", func(b []byte) []byte { return append(b, make([]byte, 16)...) }, "[t/a/1 t/b/2]", true)
}

// One damaged record in the middle of a segment costs that record only:
// the records behind it are found again and replayed, and exactly the
// damaged record's bytes are counted as skipped.
func TestCorruptRecordInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, 1<<24, 1<<24)
	var want []string
	for i := range 1000 {
		v := fmt.Sprintf(`{"click_id":"%04d","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`, i)
		s.Append(Record{Topic: "aff.clicks", Key: []byte(fmt.Sprintf("dev%04d", i)), Value: []byte(v)})
		if i != 500 {
			want = append(want, v)
		}
	}
	s.Close()
	ents, _ := os.ReadDir(dir)
	p := dir + "/" + ents[0].Name()
	data, _ := os.ReadFile(p)
	size := len(data) / 1000 // every record has the same size
	data[500*size+size/2] ^= 0x40
	os.WriteFile(p, data, 0o600)
	var got []string
	skipped, err := ReadSegment(p, func(r Record) error {
		got = append(got, string(r.Value))
		return nil
	})
	if err != nil || skipped != size {
		t.Fatalf("ReadSegment: %v, skipped %d bytes, want one record's %d", err, skipped, size)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed %d records, want the %d undamaged ones in order", len(got), len(want))
	}
}

func TestFull(t *testing.T) {
	s, _ := Open(t.TempDir(), 40, 1<<20)
	if err := s.Append(Record{Topic: "t", Value: []byte("0123456789")}); err != nil {
		t.Fatalf("first Append: %v", err)
	}
	if err := s.Append(Record{Topic: "t", Value: []byte("0123456789")}); err != ErrFull {
		t.Fatalf("second Append = %v, want ErrFull", err)
	}
	got, _ := readAll(t, s)
	if len(got) != 1 {
		t.Fatalf("replayed %v, want the one record that fitted", got)
	}
}

// A quarantined record is kept in its own file, in the record format,
// apart from the replay: the spool stays empty, and the file counts toward
// the size limit, across a reopen too.
func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Quarantine(Record{Topic: "t", Key: []byte("k"), Value: []byte("big")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Quarantine(Record{Topic: "t", Key: []byte("k2"), Value: []byte("bad")}); err != nil {
		t.Fatal(err)
	}
	const one = 8 + 2 + 1 + 4 // header, topic, key length
	if !s.Empty() || s.Bytes() != 2*one+1+3+2+3 {
		t.Fatalf("after Quarantine: Empty=%v Bytes=%d", s.Empty(), s.Bytes())
	}
	if got, _ := readAll(t, s); len(got) != 0 {
		t.Fatalf("replay found %v, want nothing", got)
	}
	var got []string
	if _, err := ReadSegment(filepath.Join(s.Dir(), QuarantineName), func(r Record) error {
		got = append(got, fmt.Sprintf("%s/%s/%s", r.Topic, r.Key, r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[t/k/big t/k2/bad]" {
		t.Fatalf("quarantine holds %v", got)
	}
	s.Close()
	s, err = Open(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Empty() || s.Bytes() != 2*one+1+3+2+3 {
		t.Fatalf("reopened: Empty=%v Bytes=%d", s.Empty(), s.Bytes())
	}
	if err := s.Append(Record{Topic: "t", Value: make([]byte, 80)}); err != ErrFull {
		t.Fatalf("Append over the limit with the quarantine = %v, want ErrFull", err)
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := Open(f.TempDir(), 1<<20, 1<<20)
	s.Append(Record{Topic: "aff.clicks", Key: []byte("key"), Value: []byte(`{"v":1}`)})
	s.Close()
	path, _, _ := s.Oldest()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, ok := decode(b)
		if !ok {
			return
		}
		if n > len(b) || n < headerBytes+6 || len(r.Key)+len(r.Value)+len(r.Topic) > n {
			t.Fatalf("decode(%x) = %d bytes, record %+v", b, n, r)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	s, _ := Open(b.TempDir(), 1<<40, 64<<20)
	r := Record{Topic: "aff.clicks", Key: bytes.Repeat([]byte("k"), 22), Value: bytes.Repeat([]byte("v"), 400)}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}
