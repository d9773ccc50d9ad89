package click

import (
	"hash/maphash"
	"sync"

	"github.com/ua-parser/uap-go/uaparser"
)

// BotDetector flags crawler user agents using the ua-parser project's
// maintained regex list (github.com/ua-parser/uap-core, embedded by uap-go):
// a user agent whose device family is "Spider" is a bot, as is an empty
// one. Matching the list costs milliseconds, so verdicts are cached by a
// hash of the user agent in a bounded, sharded map.
type BotDetector struct {
	parser   *uaparser.Parser
	seed     maphash.Seed
	maxShard int
	shards   [16]botShard
}

type botShard struct {
	mu sync.Mutex
	m  map[uint64]bool
}

// NewBotDetector returns a detector that caches up to maxEntries verdicts.
func NewBotDetector(maxEntries int) (*BotDetector, error) {
	p, err := uaparser.New(uaparser.WithMode(uaparser.EDeviceLookUpMode), uaparser.WithCacheSize(1))
	if err != nil {
		return nil, err
	}
	d := &BotDetector{parser: p, seed: maphash.MakeSeed(), maxShard: max(1, maxEntries/16)}
	for i := range d.shards {
		d.shards[i].m = make(map[uint64]bool)
	}
	return d, nil
}

// IsBot reports whether ua is a crawler's user agent.
func (d *BotDetector) IsBot(ua []byte) bool {
	if len(ua) == 0 {
		return true
	}
	h := maphash.Bytes(d.seed, ua)
	sh := &d.shards[h%uint64(len(d.shards))]
	sh.mu.Lock()
	v, ok := sh.m[h]
	sh.mu.Unlock()
	if ok {
		return v
	}
	v = d.parser.ParseDevice(string(ua)).Family == "Spider"
	sh.mu.Lock()
	if len(sh.m) >= d.maxShard {
		clear(sh.m) // bounded: forget this shard's verdicts, they are cheap to redo
	}
	sh.m[h] = v
	sh.mu.Unlock()
	return v
}
