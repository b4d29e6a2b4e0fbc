package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// printMetrics prints, per side, method and peer, the calls and their
// outcomes and p50/p99 latency estimated from the histogram buckets (as
// PromQL's histogram_quantile does).
func printMetrics(w io.Writer, reg prometheus.Gatherer, elapsed time.Duration) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	type row struct {
		side, method, peer string
		calls              uint64
		outcomes           map[string]uint64
		buckets            map[float64]uint64
	}
	rows := map[string]*row{}
	for _, mf := range mfs {
		side, ok := strings.CutSuffix(strings.TrimPrefix(mf.GetName(), "kitex_"), "_call_duration_seconds")
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labels(m)
			peer := l["caller"] + l["callee"]
			key := side + l["method"] + peer
			r := rows[key]
			if r == nil {
				r = &row{side: side, method: l["method"], peer: peer, outcomes: map[string]uint64{}, buckets: map[float64]uint64{}}
				rows[key] = r
			}
			h := m.GetHistogram()
			r.calls += h.GetSampleCount()
			outcome := l["outcome"]
			if l["error_type"] != "" {
				outcome += "(" + l["error_type"] + ")"
			}
			r.outcomes[outcome] += h.GetSampleCount()
			for _, b := range h.GetBucket() {
				r.buckets[b.GetUpperBound()] += b.GetCumulativeCount()
			}
		}
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "  %-7s %-30s %-9s %6s %7s %9s %9s  %s\n", "SIDE", "METHOD", "PEER", "CALLS", "RPS", "P50", "P99", "OUTCOMES (error.type)")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(w, "  %-7s %-30s %-9s %6d %7.0f %9s %9s  %s\n", r.side, r.method, orDash(r.peer), r.calls,
			float64(r.calls)/elapsed.Seconds(), quantile(0.5, r.buckets, r.calls), quantile(0.99, r.buckets, r.calls), outcomes(r.outcomes))
	}
	return nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// quantile interpolates within the bucket holding the q-th observation.
func quantile(q float64, buckets map[float64]uint64, total uint64) string {
	if total == 0 {
		return "-"
	}
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, b := range bounds {
		if c := buckets[b]; float64(c) >= rank {
			if math.IsInf(b, 1) {
				return ">" + time.Duration(lower*float64(time.Second)).String()
			}
			frac := (rank - float64(below)) / float64(c-below)
			return time.Duration((lower + (b-lower)*frac) * float64(time.Second)).Round(time.Microsecond).String()
		} else {
			lower, below = b, c
		}
	}
	return "-"
}

func outcomes(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
