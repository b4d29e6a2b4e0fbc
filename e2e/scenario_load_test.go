package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callRecord is one request of a load: when it started, how long it took,
// how it ended.
type callRecord struct {
	start time.Time
	dur   time.Duration
	err   error
	trace string // the trace id the gateway answered with
}

// chainLoad sends requests to the gateway from several workers until
// stopped (or until limit requests have started, if limit > 0), keeping a
// record of every one.
type chainLoad struct {
	workers int
	limit   int64
	started atomic.Int64
	stopCh  chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	more    *sync.Cond // broadcast on every new record
	records []callRecord
}

// orderFunc asks the chain's gateway for an item.
type orderFunc func(ctx context.Context, item string) (orderReply, error)

func startOrderLoad(order orderFunc, workers int, limit int64) *chainLoad {
	l := &chainLoad{workers: workers, limit: limit, stopCh: make(chan struct{})}
	l.more = sync.NewCond(&l.mu)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopCh:
					return
				default:
				}
				if n := l.started.Add(1); l.limit > 0 && n > l.limit {
					return
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				r, err := order(ctx, fmt.Sprintf("w%d-%d", w, i))
				cancel()
				rec := callRecord{start: start, dur: time.Since(start), err: err, trace: r.TraceID}
				l.mu.Lock()
				l.records = append(l.records, rec)
				l.more.Broadcast()
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// waitCalls blocks until n more requests have finished, proving the load
// runs; after 30 s without them the test fails.
func (l *chainLoad) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	wake := time.AfterFunc(30*time.Second, func() {
		l.mu.Lock()
		l.more.Broadcast()
		l.mu.Unlock()
	})
	defer wake.Stop()
	l.mu.Lock()
	target := len(l.records) + n
	for len(l.records) < target && time.Now().Before(deadline) {
		l.more.Wait()
	}
	got := len(l.records)
	l.mu.Unlock()
	if got < target {
		t.Fatalf("load stalled at %d requests", got)
	}
}

// stop stops the workers and waits for their last requests.
func (l *chainLoad) stop() {
	select {
	case <-l.stopCh:
	default:
		close(l.stopCh)
	}
	l.wg.Wait()
}

// window returns the records of requests started in [from, to).
func (l *chainLoad) window(from, to time.Time) loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var in []callRecord
	for _, r := range l.records {
		if !r.start.Before(from) && r.start.Before(to) {
			in = append(in, r)
		}
	}
	return statsOf(in)
}

// all returns every record so far.
func (l *chainLoad) all() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return statsOf(slices.Clone(l.records))
}

// loadStats summarises records.
type loadStats struct {
	records  []callRecord
	calls    int
	failures int
	p50, p99 time.Duration
}

func statsOf(records []callRecord) loadStats {
	s := loadStats{records: records, calls: len(records)}
	durs := make([]time.Duration, 0, len(records))
	for _, r := range records {
		if r.err != nil {
			s.failures++
		}
		durs = append(durs, r.dur)
	}
	slices.Sort(durs)
	if len(durs) > 0 {
		s.p50 = durs[len(durs)*50/100]
		s.p99 = durs[min(len(durs)-1, len(durs)*99/100)]
	}
	return s
}

// failed returns the failed records.
func (s loadStats) failed() []callRecord {
	var out []callRecord
	for _, r := range s.records {
		if r.err != nil {
			out = append(out, r)
		}
	}
	return out
}

// firstErrors describes up to five failures, for a test's message.
func (s loadStats) firstErrors() string {
	var out []string
	for _, r := range s.failed() {
		if len(out) == 5 {
			break
		}
		out = append(out, fmt.Sprintf("%s: %v", r.start.Format("15:04:05.000"), r.err))
	}
	return strings.Join(out, "; ")
}

// scenarioReport is the markdown report of a run of the scenarios: one row
// per scenario and registry.
type scenarioReport struct {
	mu   sync.Mutex
	rows []reportRow
}

type reportRow struct {
	scenario, registry string
	calls, failures    int
	p50, p99           time.Duration
	passed             bool
	notes              string
}

// run runs one scenario as a subtest of t and a row of the report, filled
// in from the load statistics and notes the scenario leaves.
func (r *scenarioReport) run(t *testing.T, registry, name string, scenario func(t *testing.T, s *loadStats, notes *string)) {
	t.Run(name, func(t *testing.T) {
		var s loadStats
		var notes string
		t.Cleanup(func() {
			row := reportRow{scenario: name, registry: registry, passed: !t.Failed(), notes: notes,
				calls: s.calls, failures: s.failures, p50: s.p50, p99: s.p99}
			r.mu.Lock()
			r.rows = append(r.rows, row)
			r.mu.Unlock()
		})
		scenario(t, &s, &notes)
	})
}

// write writes the report as report.md into t's artifact directory (kept
// under -outputdir with go test -artifacts) and into t's log.
func (r *scenarioReport) write(t *testing.T, title string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "| scenario | registry | calls | failures | p50 | p99 | result | notes |\n|---|---|---:|---:|---:|---:|---|---|\n")
	for _, row := range r.rows {
		result := "pass"
		if !row.passed {
			result = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s | %s |\n", row.scenario, row.registry, row.calls, row.failures,
			row.p50.Round(10*time.Microsecond), row.p99.Round(10*time.Microsecond), result, row.notes)
	}
	path := filepath.Join(t.ArtifactDir(), "report.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("write report: %v", err)
	}
	t.Logf("scenario report (%s):\n%s", path, b.String())
}
