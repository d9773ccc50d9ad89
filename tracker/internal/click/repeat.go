package click

import (
	"hash/maphash"
	"sync"
	"time"
)

// RepeatTracker remembers which device clicked which link recently, to flag
// a repeat click of the same device on the same link within the window.
//
// It is per process: behind a load balancer, a repeat that lands on
// another tracker replica is not flagged (the flag is a hint for reports;
// attribution never depends on it). Memory is bounded: each shard keeps
// two generations of at most maxEntries/16/2 keys and drops the older
// generation when the newer is full or older than the window, so under
// memory pressure a repeat may go unflagged, never the reverse.
type RepeatTracker struct {
	window time.Duration
	maxGen int
	seed   maphash.Seed
	shards [16]repeatShard
}

type repeatShard struct {
	mu        sync.Mutex
	cur, prev map[uint64]int64 // key hash → last click, Unix ns
	curStart  int64
}

// NewRepeatTracker returns a tracker for the given window holding at most
// about maxEntries device-link pairs.
func NewRepeatTracker(window time.Duration, maxEntries int) *RepeatTracker {
	r := &RepeatTracker{window: window, maxGen: max(1, maxEntries/32), seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].cur = make(map[uint64]int64)
		r.shards[i].prev = make(map[uint64]int64)
	}
	return r
}

// Seen records a click of device on link at time at and reports whether
// the same pair clicked within the window before it.
func (r *RepeatTracker) Seen(device []byte, link string, at time.Time) bool {
	// Two one-shot hashes are cheaper than a streaming maphash.Hash; the
	// multiply keeps (device, link) and (link, device) apart.
	k := maphash.Bytes(r.seed, device)*0x9e3779b97f4a7c15 ^ maphash.String(r.seed, link)
	now := at.UnixNano()
	sh := &r.shards[k%uint64(len(r.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.cur) >= r.maxGen || now-sh.curStart > int64(r.window) {
		sh.prev, sh.cur = sh.cur, sh.prev
		clear(sh.cur)
		sh.curStart = now
	}
	last, ok := sh.cur[k]
	if !ok {
		last, ok = sh.prev[k]
	}
	sh.cur[k] = now
	return ok && now-last <= int64(r.window) && now >= last
}
