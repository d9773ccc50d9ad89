package sink

import (
	"slices"
	"time"
)

// DefaultInsertMaxMonths is the default of Config.InsertMaxMonths: the
// default of ClickHouse's max_partitions_per_insert_block (since 19.x; 18.16
// has no such limit).
const DefaultInsertMaxMonths = 100

// monthOf is the partition of a row at t: every table, and every table a
// materialized view fills from them, is PARTITION BY toYYYYMM of the event
// time (or of its toDate) in a DateTime('UTC') column, so by its UTC month.
func monthOf(t time.Time) int {
	y, m, _ := t.UTC().Date()
	return y*12 + int(m) - 1
}

// monthStart is the first instant of month m (as monthOf counts).
func monthStart(m int) time.Time {
	return time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC)
}

// monthChunks orders rows for INSERTs that each touch at most maxMonths
// partitions. ClickHouse refuses, with code 252 TOO_MANY_PARTS, an INSERT
// block spanning more than max_partitions_per_insert_block partitions — on
// every retry, since a retry sends the same block — so one shop backfilling
// years of orders would stop the whole sink.
//
// ats holds each row's event time. When the rows span at most maxMonths
// months (the usual case) monthChunks returns nil: insert them as they are.
// Otherwise it returns order, a permutation of the row indexes, and ends,
// the end in order of each chunk: the months in ascending order, maxMonths
// at a time, each chunk keeping its rows in their original order.
func monthChunks(ats []time.Time, maxMonths int) (order, ends []int) {
	if maxMonths <= 0 {
		panic("BUG: monthChunks with maxMonths <= 0")
	}
	months := make(map[int]int) // month -> its chunk, once ranked
	var lo, hi time.Time        // the last month seen, [lo, hi): most rows are in it
	for _, at := range ats {
		if !at.Before(lo) && at.Before(hi) {
			continue
		}
		m := monthOf(at)
		months[m] = 0
		lo, hi = monthStart(m), monthStart(m+1)
	}
	if len(months) <= maxMonths {
		return nil, nil
	}
	sorted := make([]int, 0, len(months))
	for m := range months {
		sorted = append(sorted, m)
	}
	slices.Sort(sorted)
	for rank, m := range sorted {
		months[m] = rank / maxMonths
	}
	chunks := (len(sorted) + maxMonths - 1) / maxMonths
	chunkOf := make([]int, len(ats))
	ends = make([]int, chunks)
	for i, at := range ats {
		c := months[monthOf(at)]
		chunkOf[i] = c
		ends[c]++
	}
	// Counting sort by chunk: stable, so each chunk keeps the rows' order.
	next := make([]int, chunks) // where the next row of each chunk goes
	for c := 1; c < chunks; c++ {
		next[c] = next[c-1] + ends[c-1]
		ends[c-1] = next[c]
	}
	ends[chunks-1] = len(ats)
	order = make([]int, len(ats))
	for i, c := range chunkOf {
		order[next[c]] = i
		next[c]++
	}
	return order, ends
}

// permute reorders every column of t so that row i becomes the row that
// was at order[i].
func permute(t table, order []int) {
	for _, c := range t.columns() {
		c.permute(order)
	}
}
