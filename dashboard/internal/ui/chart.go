package ui

import (
	"context"
	"fmt"
	"html/template"
	"strings"
)

// chartDays is the range of the overview charts.
const chartDays = 30

// Chart is one rendered bar chart.
type Chart struct {
	Title string
	SVG   template.HTML
	Total string
}

// barChart renders values as an inline SVG bar chart (server-side, no
// script). Labels are produced here from numbers only, so the markup
// carries no user input.
func barChart(labels []string, values []int64, format func(int64) string) template.HTML {
	const w, h, pad = 640, 160, 24
	var max int64 = 1
	for _, v := range values {
		if v > max {
			max = v
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`, w, h+pad, w, h+pad)
	if n := len(values); n > 0 {
		bw := float64(w) / float64(n)
		for i, v := range values {
			bh := float64(h-10) * float64(v) / float64(max)
			if v < 0 {
				bh = 0
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2b5bd7"><title>%s: %s</title></rect>`,
				float64(i)*bw+1, float64(h)-bh, bw-2, bh, template.HTMLEscapeString(labels[i]), template.HTMLEscapeString(format(v)))
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="11" fill="#6b7480">%s</text>`, h+16, template.HTMLEscapeString(labels[0]))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#6b7480" text-anchor="end">%s</text>`, w, h+16, template.HTMLEscapeString(labels[n-1]))
		fmt.Fprintf(&b, `<text x="%d" y="12" font-size="11" fill="#6b7480" text-anchor="end">max %s</text>`, w, template.HTMLEscapeString(format(max)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped labels only
}

// charts reads the daily series of a partner ("" = all) and renders the
// clicks, orders and commission charts; a ClickHouse failure hides the
// charts rather than failing the page.
func (u *UI) charts(ctx context.Context, partnerID, currency string) ([]Chart, string) {
	if u.Reports == nil {
		return nil, "Charts are off (no ClickHouse configured)."
	}
	days, err := u.Reports.DailyIn(ctx, partnerID, currency, chartDays, u.Now())
	if err != nil {
		u.Log.WarnContext(ctx, "cannot read charts", "error", err)
		return nil, "Charts are unavailable right now."
	}
	labels := make([]string, len(days))
	clicks, orders, comm := make([]int64, len(days)), make([]int64, len(days)), make([]int64, len(days))
	var tc, to, tm int64
	for i, d := range days {
		labels[i] = d.Day.Format("2006-01-02")
		clicks[i], orders[i], comm[i] = int64(d.Clicks), int64(d.Orders), d.CommissionMinor
		tc, to, tm = tc+clicks[i], to+orders[i], tm+comm[i]
	}
	count := func(v int64) string { return fmt.Sprint(v) }
	amount := func(v int64) string { return funcs["money"].(func(string, int64) string)(currency, v) }
	return []Chart{
		{Title: "Clicks per day", SVG: barChart(labels, clicks, count), Total: count(tc)},
		{Title: "Orders per day", SVG: barChart(labels, orders, count), Total: count(to)},
		{Title: "Commission per day", SVG: barChart(labels, comm, amount), Total: amount(tm)},
	}, ""
}
