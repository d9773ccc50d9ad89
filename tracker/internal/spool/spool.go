// Package spool is the tracker's disk buffer for Kafka messages that could
// not be delivered (Kafka slow or down, in-memory queue full, shutdown).
//
// A spool is a directory of segment files named by their creation time in
// Unix nanoseconds ("%020d.seg"). Records are appended to the one active
// segment; a segment is sealed when it reaches the segment size or when
// the replayer asks for it, and deleted only after every record in it was
// acknowledged by Kafka. Each record is
//
//	uint32 LE  body length
//	uint32 LE  CRC-32C (Castagnoli) of body
//	body:      uint16 LE topic length, topic, uint32 LE key length, key, value
//
// A torn or corrupt record (short read, bad length, bad checksum) is
// skipped and its bytes counted: since its length prefix cannot be
// trusted, reading resumes at the next offset where a whole record with a
// valid checksum starts, so one damaged record (a bad sector, a flipped
// bit) does not cost the records behind it. Torn tails are what a crash
// during append leaves behind; after one nothing more is found.
//
// Durability: Append writes with one write(2) per call into the page cache;
// Sync fsyncs the active segment. Callers choose when to Sync (see the
// producer package for the policy).
//
// Records Kafka refuses for good (larger than the topic's
// max.message.bytes, invalid) are moved to the quarantine file
// (QuarantineName, same record format) so that they do not hold back the
// records behind them; it is never replayed and is kept for an operator.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is returned by Append when the spool would exceed its size limit.
var ErrFull = errors.New("spool is full (raise -spool-max-bytes or free disk)")

// MaxRecordBytes is the largest record body accepted.
const MaxRecordBytes = 4 << 20

// QuarantineName is the file, in the spool directory, of the records Kafka
// refused for good (see Quarantine). It is in the segments' record format
// (read it with ReadSegment), never replayed, and counts toward the
// spool's size limit until an operator removes it (with the tracker
// stopped: a running tracker counts its bytes until it restarts).
const QuarantineName = "quarantine.rec"

const headerBytes = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one Kafka message.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
}

// Spool is safe for concurrent use.
type Spool struct {
	dir          string
	maxBytes     int64
	segmentBytes int64

	mu         sync.Mutex
	active     *os.File
	activeName string
	activeSize int64
	dirty      bool     // active has unsynced writes
	sealed     []string // file names, oldest first
	lastStamp  int64
	buf        []byte

	bytes  atomic.Int64 // all segments, sealed and active
	oldest atomic.Int64 // creation time (Unix ns) of the oldest segment, 0 when empty
}

// Open opens (creating) the spool directory. Segments left by a previous
// process are sealed and will be replayed first.
func Open(dir string, maxBytes, segmentBytes int64) (*Spool, error) {
	if maxBytes <= 0 || segmentBytes <= 0 {
		return nil, errors.New("spool: sizes must be positive")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create spool dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read spool dir: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segmentBytes: segmentBytes}
	var total int64
	for _, e := range ents {
		stamp, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("cannot stat spool segment: %w", err)
		}
		total += info.Size()
		s.sealed = append(s.sealed, e.Name())
		s.lastStamp = max(s.lastStamp, stamp)
	}
	sort.Strings(s.sealed) // zero-padded: lexical order is time order
	switch info, err := os.Stat(filepath.Join(dir, QuarantineName)); {
	case err == nil:
		total += info.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cannot stat spool quarantine: %w", err)
	}
	s.bytes.Store(total)
	s.updateOldestLocked()
	return s, nil
}

func parseName(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(base) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(base, 10, 64)
	return n, err == nil
}

func (s *Spool) updateOldestLocked() {
	name := s.activeName
	if len(s.sealed) > 0 {
		name = s.sealed[0]
	}
	n, _ := parseName(name)
	s.oldest.Store(n)
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Bytes returns the size of all segments and the quarantine file.
func (s *Spool) Bytes() int64 { return s.bytes.Load() }

// OldestAge returns how long the oldest spooled record may have waited
// (the age of the oldest segment), 0 when the spool is empty.
func (s *Spool) OldestAge() time.Duration {
	n := s.oldest.Load()
	if n == 0 {
		return 0
	}
	return time.Since(time.Unix(0, n))
}

// OldestAt returns when the oldest segment holding records was started
// (no spooled record is much older), or the zero time when the spool is empty.
func (s *Spool) OldestAt() time.Time {
	if s.Empty() {
		return time.Time{}
	}
	n := s.oldest.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Empty reports whether no record waits in the spool.
func (s *Spool) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sealed) == 0 && s.activeSize == 0
}

// Append appends recs with one write. It returns ErrFull when they do
// not fit under the size limit (nothing is written then).
func (s *Spool) Append(recs ...Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf[:0]
	for _, r := range recs {
		var err error
		if b, err = appendRecord(b, r); err != nil {
			return err
		}
	}
	if cap(b) <= 1<<20 {
		s.buf = b // keep a moderate buffer for the next call
	}
	if s.bytes.Load()+int64(len(b)) > s.maxBytes {
		return ErrFull
	}
	if s.active != nil && s.activeSize >= s.segmentBytes {
		if err := s.sealLocked(); err != nil {
			return err
		}
	}
	if s.active == nil {
		if err := s.createLocked(); err != nil {
			return err
		}
	}
	n, err := s.active.Write(b)
	s.activeSize += int64(n)
	s.bytes.Add(int64(n))
	s.dirty = s.dirty || n > 0
	if err != nil {
		// A partial write leaves a torn record; seal so that it ends a
		// segment and later appends start clean.
		_ = s.sealLocked()
		return fmt.Errorf("cannot write spool segment: %w", err)
	}
	return nil
}

// appendRecord appends r, encoded with its header, to b.
func appendRecord(b []byte, r Record) ([]byte, error) {
	n := 2 + len(r.Topic) + 4 + len(r.Key) + len(r.Value)
	if n > MaxRecordBytes || len(r.Topic) > 0xffff {
		return b, fmt.Errorf("spool: record of %d bytes is over the %d byte limit", n, MaxRecordBytes)
	}
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, 0, 0, 0, 0) // checksum, filled below
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Topic)))
	b = append(b, r.Topic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Key)))
	b = append(b, r.Key...)
	b = append(b, r.Value...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+headerBytes:], castagnoli))
	return b, nil
}

// Quarantine appends r to the quarantine file (QuarantineName) and fsyncs
// it: a record Kafka refused for good, taken out of the replay so that the
// records behind it move on. It returns ErrFull when r does not fit under
// the spool's size limit. Quarantining is rare; the file is opened for
// each call.
func (s *Spool) Quarantine(r Record) error {
	b, err := appendRecord(nil, r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes.Load()+int64(len(b)) > s.maxBytes {
		return ErrFull
	}
	path := filepath.Join(s.dir, QuarantineName)
	_, err = os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open spool quarantine: %w", err)
	}
	n, werr := f.Write(b)
	s.bytes.Add(int64(n))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("cannot write spool quarantine: %w", werr)
	}
	if created {
		return syncDir(s.dir)
	}
	return nil
}

func (s *Spool) createLocked() error {
	stamp := max(time.Now().UnixNano(), s.lastStamp+1)
	name := fmt.Sprintf("%020d.seg", stamp)
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	// Make the new file's directory entry durable too.
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.lastStamp = stamp
	s.active, s.activeName, s.activeSize = f, name, 0
	s.updateOldestLocked()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open spool dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot fsync spool dir: %w", err)
	}
	return nil
}

// Sync makes every appended record durable (fsync of the active segment).
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncLocked()
}

func (s *Spool) syncLocked() error {
	if s.active == nil || !s.dirty {
		return nil
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("cannot fsync spool segment: %w", err)
	}
	s.dirty = false
	return nil
}

func (s *Spool) sealLocked() error {
	if s.active == nil {
		return nil
	}
	err := s.syncLocked()
	if cerr := s.active.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cannot close spool segment: %w", cerr)
	}
	if s.activeSize > 0 {
		s.sealed = append(s.sealed, s.activeName)
	} else {
		os.Remove(filepath.Join(s.dir, s.activeName))
	}
	s.active, s.activeName, s.activeSize = nil, "", 0
	s.updateOldestLocked()
	return err
}

// Oldest returns the path of the oldest sealed segment. When none is sealed
// but the active segment holds records, it seals it first. ok is false when
// the spool is empty.
func (s *Spool) Oldest() (path string, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) == 0 && s.activeSize > 0 {
		if err := s.sealLocked(); err != nil {
			return "", false, err
		}
	}
	if len(s.sealed) == 0 {
		return "", false, nil
	}
	return filepath.Join(s.dir, s.sealed[0]), true, nil
}

// Remove deletes the oldest sealed segment, whose records were all
// delivered. path must be what Oldest returned.
func (s *Spool) Remove(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) == 0 || filepath.Join(s.dir, s.sealed[0]) != path {
		panic("BUG: spool.Remove of a segment that is not the oldest: " + path)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot stat spool segment: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("cannot remove spool segment: %w", err)
	}
	s.sealed = s.sealed[1:]
	s.bytes.Add(-info.Size())
	s.updateOldestLocked()
	return nil
}

// Close seals the active segment (fsyncing it).
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealLocked()
}

// ReadSegment reads the segment at path and calls fn for each valid record,
// in order; the Record's slices alias the segment's data, read afresh by
// each call, so they stay valid after fn returns. It returns the number of
// bytes skipped as torn or corrupt (0 when the segment is intact); reading
// goes on after them at the next whole record with a valid checksum.
func ReadSegment(path string, fn func(Record) error) (skippedBytes int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cannot read spool segment: %w", err)
	}
	for off := 0; off < len(data); {
		rec, n, ok := decode(data[off:])
		if !ok {
			next := resync(data, off+1)
			skippedBytes += next - off
			off = next
			continue
		}
		if err := fn(rec); err != nil {
			return 0, err
		}
		off += n
	}
	return skippedBytes, nil
}

// resync returns the first offset at or after from where a whole record
// with a valid checksum starts, or len(data). Most offsets are refused by
// their length alone (inside JSON text four bytes read as a length are far
// over MaxRecordBytes; in zeros, under the minimum), so a scan costs about
// one checksum per record it finds. A false start needs a 32-bit checksum
// match as well as a consistent length, topic and key.
func resync(data []byte, from int) int {
	for off := from; off < len(data); off++ {
		if _, _, ok := decode(data[off:]); ok {
			return off
		}
	}
	return len(data)
}

// decode parses one record at the start of b. The layout and the topic's
// name are checked before the checksum, so that resync's scan computes few
// checksums in damaged data.
func decode(b []byte) (Record, int, bool) {
	if len(b) < headerBytes {
		return Record{}, 0, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 6 || n > MaxRecordBytes || len(b)-headerBytes < n {
		return Record{}, 0, false
	}
	body := b[headerBytes : headerBytes+n]
	tl := int(binary.LittleEndian.Uint16(body))
	if 2+tl+4 > n {
		return Record{}, 0, false
	}
	topic := body[2 : 2+tl]
	if !topicName(topic) {
		return Record{}, 0, false
	}
	kl := int(binary.LittleEndian.Uint32(body[2+tl:]))
	if kl > n-(2+tl+4) {
		return Record{}, 0, false
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0, false
	}
	key := body[2+tl+4 : 2+tl+4+kl]
	return Record{Topic: string(topic), Key: key, Value: body[2+tl+4+kl:]}, headerBytes + n, true
}

// topicName reports whether t can name a Kafka topic (1 to 249 of
// [a-zA-Z0-9._-]): every record the tracker spools has one.
func topicName(t []byte) bool {
	if len(t) == 0 || len(t) > 249 {
		return false
	}
	for _, c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
