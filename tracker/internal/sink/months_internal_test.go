package sink

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestInsertRangesSplitByMonth: a table whose rows span more months than
// one INSERT may (ClickHouse's max_partitions_per_insert_block, 100 by
// default, refuses such an INSERT on every retry) is sent in INSERTs of at
// most InsertMaxMonths months each, which together hold every row once, and
// each keeps its rows in their original order.
func TestInsertRangesSplitByMonth(t *testing.T) {
	base := time.Date(2000, 1, 15, 12, 0, 0, 0, time.UTC)
	f := func(months []int, maxMonths, parallelism, minPartRows, wantInserts int) {
		t.Helper()
		s := &Sink{cfg: Config{InsertMaxMonths: maxMonths, InsertParallelism: parallelism, MinPartRows: minPartRows},
			log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		tb := &clickTable{}
		for i, m := range months {
			tb.clickID = append(tb.clickID, fmt.Sprint(i))
			tb.at = append(tb.at, base.AddDate(0, m, 0))
			for _, c := range []*[]string{&tb.device, &tb.partner, &tb.link, &tb.kind, &tb.target, &tb.product, &tb.category, &tb.referer, &tb.ua, &tb.ip} {
				*c = append(*c, fmt.Sprint("v", i))
			}
			tb.bot = append(tb.bot, uint8(i%2))
		}
		ranges := s.insertRanges(tb)
		if len(ranges) != wantInserts {
			t.Errorf("insertRanges over %d rows of %d months = %d INSERTs, want %d", len(months), distinct(months), len(ranges), wantInserts)
		}
		seen := make([]bool, len(months))
		lo := 0
		for _, r := range ranges {
			if r[0] != lo || r[1] <= r[0] {
				t.Fatalf("INSERT ranges %v do not cover the rows in turn", ranges)
			}
			lo = r[1]
			inRange := map[int]bool{}
			prev := -1
			for i := r[0]; i < r[1]; i++ {
				var id int
				fmt.Sscan(tb.clickID[i], &id)
				if seen[id] {
					t.Fatalf("row %d sent twice", id)
				}
				seen[id] = true
				if id <= prev {
					t.Errorf("INSERT %v: row %d after row %d (original order lost)", r, id, prev)
				}
				prev = id
				if !tb.at[i].Equal(base.AddDate(0, months[id], 0)) || tb.device[i] != fmt.Sprint("v", id) || tb.bot[i] != uint8(id%2) {
					t.Fatalf("row %d: its columns were not moved together", id)
				}
				inRange[monthOf(tb.at[i])] = true
			}
			if len(inRange) > maxMonths {
				t.Errorf("INSERT %v spans %d months, more than %d", r, len(inRange), maxMonths)
			}
		}
		if lo != len(months) {
			t.Fatalf("INSERT ranges %v end at %d of %d rows", ranges, lo, len(months))
		}
	}
	seq := func(n int, month func(i int) int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = month(i)
		}
		return out
	}
	// 100 months: one INSERT, rows untouched.
	f(seq(300, func(i int) int { return i % 100 }), 100, 2, 10_000, 1)
	// 150 months interleaved (a backfill mixed with other rows): two INSERTs.
	f(seq(600, func(i int) int { return (i * 7) % 150 }), 100, 2, 10_000, 2)
	// 150 months in reverse order, 2000-01 to 2012-06.
	f(seq(150, func(i int) int { return 149 - i }), 100, 2, 10_000, 2)
	// Events from 2000 to 2100 (the range pkg/events accepts): 1201 months.
	f(seq(2402, func(i int) int { return (i * 37) % 1201 }), 100, 2, 10_000, 13)
	// A lower limit (-insert-max-months 10) and parallel parts within a chunk:
	// 25 months in 3 chunks, the first two of 400 rows split in 2 parts.
	f(seq(1000, func(i int) int { return i % 25 }), 10, 2, 100, 6)
}

func distinct(months []int) int {
	set := map[int]bool{}
	for _, m := range months {
		set[m] = true
	}
	return len(set)
}

// TestMonthOf: a row's month is its UTC month, as toYYYYMM of a
// DateTime('UTC') column computes it, whatever the time's location; the
// fast path of monthChunks (rows in the month of the row before) agrees.
func TestMonthOf(t *testing.T) {
	east := time.FixedZone("UTC+14", 14*3600)
	f := func(at time.Time, want string) {
		t.Helper()
		m := monthOf(at)
		if got := fmt.Sprintf("%04d%02d", m/12, m%12+1); got != want {
			t.Errorf("monthOf(%v) = %s, want %s", at, got, want)
		}
		if start := monthStart(m); at.Before(start) || !at.Before(monthStart(m+1)) {
			t.Errorf("monthOf(%v): %v is outside month %s", at, at, want)
		}
	}
	f(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "200001")
	f(time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC), "209912")
	// February 1st 10:00 at UTC+14 is still January in UTC.
	f(time.Date(2026, 2, 1, 10, 0, 0, 0, east), "202601")
	f(time.Date(2026, 1, 31, 23, 59, 59, 999_999_999, time.UTC), "202601")
	f(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "202602")
	// Rows alternating across a month boundary count two months, not one.
	jan, feb := time.Date(2026, 2, 1, 10, 0, 0, 0, east), time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)
	if order, ends := monthChunks([]time.Time{jan, feb, jan, feb}, 1); len(ends) != 2 || fmt.Sprint(order) != "[0 2 1 3]" {
		t.Errorf("monthChunks(jan, feb, jan, feb; 1 month) = %v, %v; want [0 2 1 3], two chunks", order, ends)
	}
}
