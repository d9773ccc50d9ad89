package attribution_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/attribution"
)

// clickRow is one row of the clicks table as the brute force sees it.
type clickRow struct {
	id, device, partner, link string
	at                        time.Time
	bot                       bool
}

// bruteForce answers q by scanning every click: the reference the batched
// lookup must agree with.
func bruteForce(clicks []clickRow, q attribution.Query, window time.Duration, model attribution.Model) attribution.Result {
	var best *clickRow
	atSec := q.At.Unix()
	from := atSec - int64(window/time.Second)
	for i := range clicks {
		c := &clicks[i]
		if c.bot || c.partner == "" || c.device == "" || c.device != q.DeviceToken {
			continue
		}
		s := c.at.Unix()
		if s > atSec || s < from {
			continue
		}
		if best == nil {
			best = c
			continue
		}
		bs := best.at.Unix()
		later := s > bs || (s == bs && c.id > best.id)
		if (model == attribution.LastClick) == later {
			best = c
		}
	}
	if best == nil {
		return attribution.Result{}
	}
	return attribution.Result{Found: true, PartnerID: best.partner, LinkID: best.link, ClickID: best.id, ClickAt: time.Unix(best.at.Unix(), 0).UTC()}
}

func TestLookupMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	conn, db := clickhouse(t)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	window := 7 * 24 * time.Hour
	var clicks []clickRow
	const devices = 300
	for i := range 4000 {
		c := clickRow{
			id:      fmt.Sprintf("c%06d", rng.IntN(1_000_000)), // ids may collide in the same second: tie-break
			device:  fmt.Sprintf("d%03d", rng.IntN(devices)),
			partner: fmt.Sprintf("p%d", rng.IntN(20)),
			link:    fmt.Sprintf("l%d", i%50),
			at:      base.Add(time.Duration(rng.IntN(60*24*3600)) * time.Second),
			bot:     rng.IntN(5) == 0,
		}
		if rng.IntN(20) == 0 {
			c.partner = "" // a click without partner (unknown code) never wins
		}
		if rng.IntN(10) == 0 && len(clicks) > 0 {
			// Same device and second as an earlier click: ties.
			prev := clicks[rng.IntN(len(clicks))]
			c.device, c.at = prev.device, prev.at
		}
		clicks = append(clicks, c)
	}
	insertClicks(t, conn, db, clicks)
	insertClicks(t, conn, db, clicks[:500]) // a replayed batch changes no answer

	var qs []attribution.Query
	for range 3000 {
		c := clicks[rng.IntN(len(clicks))]
		var at time.Time
		switch rng.IntN(6) {
		case 0: // exactly at a click
			at = c.at
		case 1: // exactly at the window's far edge: still inside
			at = c.at.Add(window)
		case 2: // one second past the edge: outside
			at = c.at.Add(window + time.Second)
		case 3: // just before the click: the click is in the future
			at = c.at.Add(-time.Second)
		case 4: // sub-second part is ignored
			at = c.at.Add(700 * time.Millisecond)
		default:
			at = base.Add(time.Duration(rng.IntN(70*24*3600)) * time.Second)
		}
		qs = append(qs, attribution.Query{DeviceToken: c.device, At: at})
	}
	qs = append(qs,
		attribution.Query{DeviceToken: "never-clicked", At: base.Add(24 * time.Hour)},
		attribution.Query{DeviceToken: "", At: base.Add(24 * time.Hour)},
	)
	for _, model := range []attribution.Model{attribution.LastClick, attribution.FirstClick} {
		got, err := attribution.Lookup(ctx, conn, db, qs, window, model)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", model, err)
		}
		found := 0
		for i, q := range qs {
			want := bruteForce(clicks, q, window, model)
			if got[i] != want {
				t.Fatalf("Lookup(%s)[%d] %s at %s = %+v, want %+v", model, i, q.DeviceToken, q.At, got[i], want)
			}
			if want.Found {
				found++
			}
		}
		// The data must exercise both outcomes, or the comparison proves little.
		if found < len(qs)/4 || found > len(qs)*9/10 {
			t.Fatalf("Lookup(%s): %d of %d found: data does not exercise both outcomes", model, found, len(qs))
		}
	}
}

func TestLookupRefusesBadInput(t *testing.T) {
	f := func(window time.Duration, model attribution.Model, n int) {
		t.Helper()
		_, err := attribution.Lookup(context.Background(), nil, "x", make([]attribution.Query, n), window, model)
		if err == nil {
			t.Fatalf("Lookup(window=%s, model=%q, n=%d) = nil error, want one", window, model, n)
		}
	}
	f(time.Hour, "middle_click", 1)                             // unknown model
	f(0, attribution.LastClick, 1)                              // no window
	f(-time.Hour, attribution.FirstClick, 1)                    // negative window
	f(time.Hour, attribution.LastClick, attribution.MaxBatch+1) // batch too large
}
