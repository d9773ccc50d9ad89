package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
)

// partState is this sink's committed progress on one partition.
type partState struct {
	next  int64     // offset after the last committed message
	maxAt time.Time // latest committed event time
	dirty bool      // changed since last written to Postgres
}

// watermarkLoop refreshes the watermarks and the lag metrics every
// WatermarkInterval until ctx ends.
func (s *Sink) watermarkLoop(ctx context.Context) {
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Timeout: 10 * time.Second}
	t := time.NewTicker(s.cfg.WatermarkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.refreshWatermarks(ctx, client); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot refresh sink watermarks", "error", err)
		}
	}
}

// refreshWatermarks writes this sink's partition progress, then recomputes
// every topic's watermark (refreshTopic). The watermark only moves forward.
func (s *Sink) refreshWatermarks(ctx context.Context, client *kafka.Client) error {
	if err := s.writePartitions(ctx); err != nil {
		return err
	}
	for _, short := range Topics {
		if err := s.refreshTopic(ctx, client, short); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) writePartitions(ctx context.Context) error {
	type row struct {
		topic string
		part  int
		st    partState
	}
	var rows []row
	s.mu.Lock()
	for k, p := range s.parts {
		if p.dirty {
			rows = append(rows, row{strings.TrimPrefix(k.topic, s.cfg.TopicPrefix), k.partition, *p})
			p.dirty = false
		}
	}
	s.mu.Unlock()
	for _, r := range rows {
		maxAt := r.st.maxAt
		if maxAt.IsZero() {
			maxAt = time.Unix(0, 0) // only malformed messages so far
		}
		_, err := s.pg.Exec(ctx, `INSERT INTO sink_partitions (topic, partition, max_at, next_offset, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (topic, partition) DO UPDATE SET
    max_at = GREATEST(sink_partitions.max_at, EXCLUDED.max_at),
    next_offset = GREATEST(sink_partitions.next_offset, EXCLUDED.next_offset),
    updated_at = now()`, r.topic, r.part, maxAt, r.st.next)
		if err != nil {
			s.mu.Lock()
			s.parts[partKey{s.cfg.TopicPrefix + r.topic, r.part}].dirty = true
			s.mu.Unlock()
			return fmt.Errorf("cannot write sink partition %s/%d: %w", r.topic, r.part, err)
		}
	}
	return nil
}

// checkpoint is what one refresh saw of a partition: its high-water mark,
// and the time up to which every event that will ever be in the partition
// was below that mark — the time the mark was read minus WatermarkDelay
// (what producers may still hold back), and, for the topics trackers
// produce to, below the oldest time any tracker's report then vouched for
// (oldestSpooled: tracker_spools, read before the mark). Once the group's committed
// offset reaches the mark, everything up to that time is in ClickHouse.
type checkpoint struct {
	hwm int64
	at  time.Time
}

// maxCheckpoints bounds the checkpoints kept per partition (a sink behind
// by more refreshes than that keeps every other one: coarser, still sound).
const maxCheckpoints = 4096

// refreshTopic recomputes a topic's watermark: the minimum over its
// partitions of the time of the latest checkpoint the group's committed
// offset has reached — for a caught-up partition, this refresh's own (so an
// idle partition never holds the watermark back) — and, for a partition
// behind, not later than the latest event time committed from it either. A
// topic with a partition behind all of its checkpoints keeps its previous
// watermark.
//
// A partition's latest committed event time alone is not a bound: several
// trackers write to one partition, and one replaying its spool after an
// outage adds events older than those another wrote meanwhile; once its
// spool is replayed (and tracker_spools no longer holds it back), those
// events may still be uncommitted behind the committed ones. A checkpoint
// taken while they were spooled is bounded by the spool; one taken after
// they reached Kafka is reached only when they are committed.
func (s *Sink) refreshTopic(ctx context.Context, client *kafka.Client, short string) error {
	full := s.cfg.TopicPrefix + short
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{full}})
	if err != nil {
		return fmt.Errorf("cannot read metadata of %s: %w", full, err)
	}
	var ids []int
	for _, t := range meta.Topics {
		if t.Name == full && t.Error == nil {
			for _, p := range t.Partitions {
				ids = append(ids, p.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil // topic not created yet
	}
	bound := time.Now().UTC().Add(-s.cfg.WatermarkDelay)
	if short != "commissions" { // the topics trackers produce to
		spooled, err := s.oldestSpooled(ctx)
		if err != nil {
			return err
		}
		if !spooled.IsZero() {
			// Events older than that may still be replayed from a spool.
			bound = minTime(bound, spooled.Add(-s.cfg.WatermarkDelay))
		}
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{full: reqs}})
	if err != nil {
		return fmt.Errorf("cannot list offsets of %s: %w", full, err)
	}
	hwm := map[int]int64{}
	for _, p := range offs.Topics[full] {
		if p.Error != nil {
			return fmt.Errorf("cannot list offsets of %s/%d: %w", full, p.Partition, p.Error)
		}
		hwm[p.Partition] = p.LastOffset
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.cfg.GroupID, Topics: map[string][]int{full: ids}})
	if err != nil {
		return fmt.Errorf("cannot fetch committed offsets of %s: %w", full, err)
	}
	if fetched.Error != nil {
		return fmt.Errorf("cannot fetch committed offsets of %s: %w", full, fetched.Error)
	}
	committed := map[int]int64{}
	for _, p := range fetched.Topics[full] {
		committed[p.Partition] = max(p.CommittedOffset, 0) // -1: nothing committed yet
	}
	maxAt, err := s.partitionTimes(ctx, short)
	if err != nil {
		return err
	}
	var lag int64
	wm := bound
	complete := true
	for _, id := range ids {
		at, ok := s.reached(partKey{full, id}, checkpoint{hwm: hwm[id], at: bound}, committed[id])
		if !ok {
			complete = false
		} else {
			wm = minTime(wm, at)
		}
		behind := hwm[id] - committed[id]
		if behind <= 0 {
			continue
		}
		lag += behind
		if t, ok := maxAt[id]; ok {
			wm = minTime(wm, t)
		}
	}
	current, err := s.writeWatermark(ctx, short, wm, complete)
	if err != nil {
		return err
	}
	if short == "clicks" && !current.IsZero() {
		s.clicksWatermark.Store(current.UnixNano())
	}
	age := time.Duration(0)
	if !current.IsZero() {
		age = time.Since(current)
	}
	s.m.lag(short, lag, age)
	return nil
}

// reached records cp for the partition and returns the time of the latest
// of its checkpoints whose high-water mark the committed offset has
// reached, dropping the older ones; false when it has reached none. A
// partition behind for more than maxCheckpoints refreshes keeps every other
// checkpoint after that one (coarser, still sound).
func (s *Sink) reached(k partKey, cp checkpoint, committed int64) (time.Time, bool) {
	cps := append(s.checkpoints[k], cp)
	i := len(cps) - 1
	for i >= 0 && cps[i].hwm > committed {
		i--
	}
	var at time.Time
	if i >= 0 {
		at = cps[i].at
		cps = append(cps[:0], cps[i:]...)
	}
	if len(cps) > maxCheckpoints {
		thin := cps[:0]
		for j := 0; j < len(cps); j += 2 { // the first, the one reached, stays
			thin = append(thin, cps[j])
		}
		cps = thin
	}
	s.checkpoints[k] = cps
	return at, i >= 0
}

// spoolHold is the tracker_spools row that holds the watermarks back most.
type spoolHold struct {
	tracker  string
	at       time.Time // the oldest time the tracker may still deliver events of
	spooled  bool      // at is a held record's time (oldest_at), not the report's
	reported time.Time // when the tracker last reported (updated_at)
}

// holdLogAfter is how long a tracker may hold the watermarks back before the
// sink names it in its log (at most once per holdLogAfter): past a Kafka
// outage or a lost tracker, it is what an operator looks for.
const holdLogAfter = time.Minute

// DefaultSpoolReportStale is the default of Config.SpoolReportStale and
// -spool-report-stale: the settler's default maximum wait
// (AFF_SETTLER_MAX_WAIT, 1h), past which it decides a held order anyway,
// flagged. Holding the watermarks longer for a row that vouches for nothing
// spooled only makes every order wait that long.
const DefaultSpoolReportStale = time.Hour

// maxStaleRows bounds the stale tracker_spools rows read (and logged) per
// refresh; aff_sink_spool_stale_rows counts them all.
const maxStaleRows = 100

// oldestSpooled returns the oldest time any tracker may still deliver an
// event of, by its report in tracker_spools, or the zero time when no
// tracker's row holds. Per tracker, it is the oldest record it reported
// holding (oldest_at) or, when it reported none (NULL), the time of that
// report (updated_at): whatever it spooled or queued since — while it
// cannot reach Postgres, say — is newer than the report. So a tracker that
// stops reporting holds the watermarks at its last report (minus the
// delay) until it reports again, its row is deleted, or — when it reported
// nothing spooled — SpoolReportStale has passed since that report: a live
// tracker reports every second or so, and the settler decides held orders
// after its maximum wait anyway (flagged), so a NULL row that old is most
// likely left by a tracker that is gone (the previous release never
// deleted its row; a recreated container or pod gets a new tracker_id).
// Such a row no longer holds and is named in the log (noteStale). A row
// with a spooled record (oldest_at) always holds: it is data still to come.
// A tracker stopped cleanly deletes its own row when it holds nothing; the
// row of one that died holding records must be deleted by an operator once
// its spool is replayed or lost.
func (s *Sink) oldestSpooled(ctx context.Context) (time.Time, error) {
	if err := s.noteStale(ctx); err != nil {
		return time.Time{}, err
	}
	var h spoolHold
	err := s.pg.QueryRow(ctx, `SELECT tracker_id, COALESCE(oldest_at, updated_at), oldest_at IS NOT NULL, updated_at
FROM tracker_spools WHERE oldest_at IS NOT NULL OR updated_at >= now() - $1::interval
ORDER BY 2, 1 LIMIT 1`, s.cfg.SpoolReportStale).Scan(&h.tracker, &h.at, &h.spooled, &h.reported)
	if errors.Is(err, pgx.ErrNoRows) {
		s.m.spoolHold(0)
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read tracker spools: %w", err)
	}
	s.noteHold(h)
	return h.at, nil
}

// noteStale reads the tracker_spools rows oldestSpooled ignores (nothing
// spooled, no report for SpoolReportStale), counts them in
// aff_sink_spool_stale_rows and logs each, at most once per holdLogAfter
// per row: a row left by a tracker that is gone is the operator's to
// delete, and one of a tracker that is alive but has not reached Postgres
// for that long no longer keeps its clicks from being decided without.
func (s *Sink) noteStale(ctx context.Context) error {
	rows, err := s.pg.Query(ctx, `SELECT tracker_id, updated_at, count(*) OVER ()
FROM tracker_spools WHERE oldest_at IS NULL AND updated_at < now() - $1::interval
ORDER BY updated_at, tracker_id LIMIT $2`, s.cfg.SpoolReportStale, maxStaleRows)
	if err != nil {
		return fmt.Errorf("cannot read stale tracker spools: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	total := 0
	seen := make(map[string]bool, len(s.staleLogged))
	for rows.Next() {
		var id string
		var reported time.Time
		if err := rows.Scan(&id, &reported, &total); err != nil {
			return fmt.Errorf("cannot read stale tracker spools: %w", err)
		}
		seen[id] = true
		if now.Sub(s.staleLogged[id]) < holdLogAfter {
			continue
		}
		s.staleLogged[id] = now
		s.log.Error("a tracker_spools row with nothing spooled was not updated for longer than -spool-report-stale and no longer "+
			"holds the clicks, identities and orders watermarks back (a live tracker reports every second or so); "+
			"if that tracker is gone, delete its row: DELETE FROM tracker_spools WHERE tracker_id = '…'",
			"tracker_id", id, "last_report", reported, "report_age", now.Sub(reported).Round(time.Second),
			"spool_report_stale", s.cfg.SpoolReportStale)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read stale tracker spools: %w", err)
	}
	for id := range s.staleLogged {
		if !seen[id] {
			delete(s.staleLogged, id) // reported again or deleted
		}
	}
	s.m.spoolStale(total)
	return nil
}

// noteHold exposes how long h holds the watermarks back
// (aff_sink_spool_hold_seconds) and, past holdLogAfter, names its tracker in
// the log, at most once per holdLogAfter.
func (s *Sink) noteHold(h spoolHold) {
	now := time.Now()
	held := max(now.Sub(h.at), 0)
	s.m.spoolHold(held)
	if held < holdLogAfter || now.Sub(s.holdLogged) < holdLogAfter {
		return
	}
	s.holdLogged = now
	attrs := []any{"tracker_id", h.tracker, "held_since", h.at, "held_for", held.Round(time.Second), "spooled", h.spooled,
		"last_report", h.reported, "report_age", now.Sub(h.reported).Round(time.Second)}
	if now.Sub(h.reported) >= holdLogAfter {
		s.log.Warn("a tracker that stopped reporting its spool holds the clicks, identities and orders watermarks back; "+
			"if it is gone for good, replay or give up its spool and delete its row: DELETE FROM tracker_spools WHERE tracker_id = '…'", attrs...)
		return
	}
	s.log.Warn("a tracker's spool holds the clicks, identities and orders watermarks back until it is replayed to Kafka", attrs...)
}

func (s *Sink) partitionTimes(ctx context.Context, short string) (map[int]time.Time, error) {
	rows, err := s.pg.Query(ctx, `SELECT partition, max_at FROM sink_partitions WHERE topic = $1`, short)
	if err != nil {
		return nil, fmt.Errorf("cannot read sink partitions of %s: %w", short, err)
	}
	defer rows.Close()
	out := map[int]time.Time{}
	for rows.Next() {
		var p int
		var at time.Time
		if err := rows.Scan(&p, &at); err != nil {
			return nil, fmt.Errorf("cannot read sink partitions of %s: %w", short, err)
		}
		out[p] = at
	}
	return out, rows.Err()
}

// writeWatermark moves the topic's watermark forward to wm (when complete)
// and returns the stored watermark (zero when there is none yet).
func (s *Sink) writeWatermark(ctx context.Context, short string, wm time.Time, complete bool) (time.Time, error) {
	var current time.Time
	if complete {
		err := s.pg.QueryRow(ctx, `INSERT INTO sink_watermarks (topic, watermark, updated_at) VALUES ($1, $2, now())
ON CONFLICT (topic) DO UPDATE SET watermark = GREATEST(sink_watermarks.watermark, EXCLUDED.watermark), updated_at = now()
RETURNING watermark`, short, wm).Scan(&current)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot write watermark of %s: %w", short, err)
		}
		return current, nil
	}
	err := s.pg.QueryRow(ctx, `SELECT watermark FROM sink_watermarks WHERE topic = $1`, short).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("cannot read watermark of %s: %w", short, err)
	}
	return current, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// lateClicks counts clicks of one fetch that arrived no newer than the
// clicks watermark (wm, Unix nanoseconds) as it was when the fetch began.
type lateClicks struct {
	wm     int64
	n      int
	oldest time.Time
}

func (l *lateClicks) add(at time.Time) {
	if l.n == 0 || at.Before(l.oldest) {
		l.oldest = at
	}
	l.n++
}

// lateLogEvery bounds how often noteLate logs.
const lateLogEvery = time.Minute

// noteLate counts clicks that reached the sink after the clicks watermark
// had passed their time (aff_sink_late_clicks_total) and logs them (at
// most once per lateLogEvery, with what arrived since): the watermark said
// every click up to it was in ClickHouse, so orders and logins decided
// meanwhile did not see them, and their attributions stand. Only trackers
// produce clicks, with their own clock, and hold the watermark below what
// they still hold (tracker_spools): a late click means a tracker's clock
// was behind by more than -watermark-delay, or a tracker spooled clicks
// while cut off from Postgres for longer than -spool-report-stale. Clicks
// read again (below the offset the group had committed) are not counted.
func (s *Sink) noteLate(l lateClicks) {
	s.m.lateClicks.Add(l.n)
	s.lateMu.Lock()
	defer s.lateMu.Unlock()
	if s.late.n == 0 || l.oldest.Before(s.late.oldest) {
		s.late.oldest = l.oldest
	}
	s.late.n += l.n
	s.late.wm = l.wm
	if time.Since(s.lateLogged) < lateLogEvery {
		return
	}
	s.log.Warn("clicks arrived after the clicks watermark had passed their time: orders and logins decided meanwhile did not see them "+
		"(a tracker's clock behind by more than -watermark-delay, or a tracker that spooled clicks while cut off from Postgres for longer than -spool-report-stale)",
		"clicks", s.late.n, "oldest_at", s.late.oldest.UTC(), "watermark", time.Unix(0, s.late.wm).UTC())
	s.lateLogged = time.Now()
	s.late = lateClicks{}
}
