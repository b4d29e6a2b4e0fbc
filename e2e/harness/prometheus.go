package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusBinary is the Prometheus server the harness runs:
// $KITEXSUITE_PROMETHEUS, else Debian's package (`apt-get install
// prometheus`, which `make tools` does).
func PrometheusBinary() (string, error) {
	if path := os.Getenv("KITEXSUITE_PROMETHEUS"); path != "" {
		return path, executable(path, "prometheus binary", "make tools", "KITEXSUITE_PROMETHEUS")
	}
	path, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("prometheus server: %w; install Debian's prometheus package (make tools) or set KITEXSUITE_PROMETHEUS", err)
	}
	return path, nil
}

// ScrapeInterval is how often the harness's Prometheus scrapes its targets.
const ScrapeInterval = time.Second

// Prometheus is a real Prometheus server (a child process, its TSDB in the
// test's temporary directory) scraping the targets the test names, with
// exemplar storage on. Tests read it through its HTTP API (API), as a
// dashboard would.
type Prometheus struct {
	addr    string
	dir     string
	proc    *Process
	api     promv1.API
	tr      *http.Transport
	mu      sync.Mutex
	targets map[string][]string // job -> host:port
}

// StartPrometheus starts Prometheus on a free loopback port, scraping every
// ScrapeInterval the targets SetTargets gives it; tb's cleanup stops it.
func StartPrometheus(tb testing.TB) *Prometheus {
	tb.Helper()
	return StartPrometheusWith(tb, func(dir string) string {
		return fmt.Sprintf(`  - job_name: kitexsuite
    file_sd_configs:
      - files: [%q]
        refresh_interval: 1s
`, filepath.Join(dir, "targets.json"))
	})
}

// StartPrometheusWith is StartPrometheus with the scrape_configs entries
// that scrapeConfigs returns (YAML list items indented by two spaces) in
// place of the file_sd job SetTargets feeds; dir is the server's own
// directory, for files the configs name. Every job scrapes every
// ScrapeInterval.
func StartPrometheusWith(tb testing.TB, scrapeConfigs func(dir string) string) *Prometheus {
	tb.Helper()
	bin, err := PrometheusBinary()
	if err != nil {
		tb.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Prometheus{addr: ports[0], dir: tb.TempDir(), targets: map[string][]string{}}
	if err := p.writeTargets(); err != nil {
		tb.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
scrape_configs:
%[2]s`, model.Duration(ScrapeInterval), scrapeConfigs(p.dir))
	if err := os.WriteFile(filepath.Join(p.dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	p.proc = StartProcess(tb, ProcessSpec{Name: "prometheus", Path: bin, Dir: p.dir, Args: []string{
		"--config.file=" + filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(p.dir, "data"),
		"--web.listen-address=" + p.addr,
		"--enable-feature=exemplar-storage",
		"--log.level=warn",
	}})
	p.tr = newTransport(nil)
	tb.Cleanup(p.tr.CloseIdleConnections)
	cli, err := promapi.NewClient(promapi.Config{Address: p.URL(), RoundTripper: p.tr})
	if err != nil {
		tb.Fatal(err)
	}
	p.api = promv1.NewAPI(cli)
	if err := p.awaitReady(); err != nil {
		tb.Fatalf("prometheus harness: %v", err)
	}
	return p
}

// URL is the server's base URL.
func (p *Prometheus) URL() string { return "http://" + p.addr }

// API is a client of the server's HTTP API.
func (p *Prometheus) API() promv1.API { return p.api }

// SetTargets makes job's targets exactly addrs (host:port serving
// /metrics); each series scraped from one carries job="<job>".
func (p *Prometheus) SetTargets(tb testing.TB, job string, addrs ...string) {
	tb.Helper()
	p.mu.Lock()
	p.targets[job] = slices.Clone(addrs)
	err := p.writeTargets()
	p.mu.Unlock()
	if err != nil {
		tb.Fatal(err)
	}
}

// writeTargets writes the file_sd file atomically (Prometheus watches it).
func (p *Prometheus) writeTargets() error {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := []group{}
	for job, addrs := range p.targets {
		groups = append(groups, group{Targets: addrs, Labels: map[string]string{"service": job}})
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	tmp := filepath.Join(p.dir, "targets.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(p.dir, "targets.json"))
}

// AwaitScrapedAfter waits until Prometheus has scraped every target of job
// successfully, starting after t: a query from then on sees what the
// targets exported at t. Prometheus offers no event for a scrape, so it
// polls the targets API.
func (p *Prometheus) AwaitScrapedAfter(tb testing.TB, job string, t time.Time) {
	tb.Helper()
	p.mu.Lock()
	want := slices.Clone(p.targets[job])
	p.mu.Unlock()
	p.awaitScraped(tb, job, t, want, func(at promv1.ActiveTarget) string { return string(at.DiscoveredLabels["__address__"]) })
}

// AwaitInstancesScrapedAfter is AwaitScrapedAfter for targets found by
// service discovery (not SetTargets): it waits until each of job's
// targets whose instance label is one of instances has been scraped
// successfully after t. Naming the instances makes a job whose targets
// Prometheus has not discovered yet wait, not pass.
func (p *Prometheus) AwaitInstancesScrapedAfter(tb testing.TB, job string, instances []string, t time.Time) {
	tb.Helper()
	p.awaitScraped(tb, job, t, instances, func(at promv1.ActiveTarget) string { return string(at.Labels["instance"]) })
}

// awaitScraped polls the targets API until every target of job whose key
// is in want has been scraped successfully after t.
func (p *Prometheus) awaitScraped(tb testing.TB, job string, t time.Time, want []string, key func(promv1.ActiveTarget) string) {
	tb.Helper()
	deadline := time.Now().Add(30*time.Second + 10*ScrapeInterval)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.api.Targets(ctx)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			fresh := 0
			for _, at := range res.Active {
				if string(at.Labels["service"]) == job && slices.Contains(want, key(at)) &&
					at.Health == promv1.HealthGood && at.LastScrape.After(t) {
					fresh++
				}
			}
			if fresh == len(want) {
				return
			}
			last = fmt.Sprintf("%d of %d targets scraped since %s", fresh, len(want), t.Format(time.RFC3339Nano))
		}
		time.Sleep(ScrapeInterval / 4)
	}
	tb.Fatalf("prometheus harness: job %s never scraped after %s: %s", job, t.Format(time.RFC3339Nano), last)
}

// Query evaluates a PromQL expression now and returns its vector.
func (p *Prometheus) Query(tb testing.TB, query string) model.Vector {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, warnings, _, err := p.api.Query(ctx, query, time.Now())
	if err != nil {
		tb.Fatalf("prometheus query %s: %v", query, err)
	}
	if len(warnings) > 0 {
		tb.Logf("prometheus query %s: warnings %v", query, warnings)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		tb.Fatalf("prometheus query %s: got %s, want a vector", query, v.Type())
	}
	return vec
}

// QueryScalar evaluates query, which must give exactly one sample, and
// returns its value.
func (p *Prometheus) QueryScalar(tb testing.TB, query string) float64 {
	tb.Helper()
	vec := p.Query(tb, query)
	if len(vec) != 1 {
		tb.Fatalf("prometheus query %s: %d samples, want 1: %v", query, len(vec), vec)
	}
	return float64(vec[0].Value)
}

func (p *Prometheus) awaitReady() error {
	return p.proc.awaitReady(60*time.Second, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := p.tr.RoundTrip(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
}
