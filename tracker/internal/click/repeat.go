package click

import (
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// RepeatTracker remembers which device clicked which link recently, to flag
// a repeat click of the same device on the same link within the window.
//
// It is per process: behind a load balancer, a repeat that lands on
// another tracker replica is not flagged (the flag is a hint for reports;
// attribution never depends on it). Memory is fixed: a table of about
// maxEntries slots (16 bytes each) in buckets of four, one cache line per
// bucket. A pair lives in the bucket its hash names; a new pair takes the
// bucket's empty or oldest slot. So under memory pressure a repeat may go
// unflagged, never the reverse: a flag needs the pair's own 64-bit key
// within the window. (It replaced two generations of Go maps per shard:
// looking a new visitor up in both cost two to four cache misses, about 5 %
// of the tracker's CPU under load; tracker/README.md.)
type RepeatTracker struct {
	window int64
	seed   maphash.Seed
	mask   uint64 // buckets - 1
	slots  []repeatSlot
	locks  [64]sync.Mutex // bucket b is guarded by locks[b%64]
}

type repeatSlot struct {
	key uint64 // 0: empty
	at  int64  // last click, Unix ns
}

const bucketSlots = 4

// NewRepeatTracker returns a tracker for the given window holding at most
// about maxEntries device-link pairs (rounded up to a power of two).
func NewRepeatTracker(window time.Duration, maxEntries int) *RepeatTracker {
	buckets := uint64(1) << bits.Len64(uint64(max(maxEntries, 2*bucketSlots)-1)/bucketSlots)
	return &RepeatTracker{
		window: int64(window), seed: maphash.MakeSeed(), mask: buckets - 1,
		slots: make([]repeatSlot, buckets*bucketSlots),
	}
}

// Seen records a click of device on link at time at and reports whether
// the same pair clicked within the window before it.
func (r *RepeatTracker) Seen(device []byte, link string, at time.Time) bool {
	// Two one-shot hashes are cheaper than a streaming maphash.Hash; the
	// multiply keeps (device, link) and (link, device) apart.
	k := maphash.Bytes(r.seed, device)*0x9e3779b97f4a7c15 ^ maphash.String(r.seed, link)
	if k == 0 {
		k = 1
	}
	now := at.UnixNano()
	b := (k >> 32) & r.mask
	mu := &r.locks[b%uint64(len(r.locks))]
	bucket := r.slots[b*bucketSlots : (b+1)*bucketSlots : (b+1)*bucketSlots]
	mu.Lock()
	defer mu.Unlock()
	victim := 0
	for i := range bucket {
		s := &bucket[i]
		if s.key == k {
			last := s.at
			s.at = now
			return now-last <= r.window && now >= last
		}
		if s.key == 0 || (bucket[victim].key != 0 && s.at < bucket[victim].at) {
			victim = i
		}
	}
	bucket[victim] = repeatSlot{key: k, at: now}
	return false
}
