package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// JaegerVersion is the Jaeger v2 scripts/build-jaeger.sh builds.
const JaegerVersion = "v1.76.0"

// JaegerBinary returns the jaeger binary the harness runs: $KITEXSUITE_JAEGER,
// else jaeger-v1.76.0 where scripts/build-jaeger.sh builds it.
func JaegerBinary() (string, error) {
	path, err := cachedPath("KITEXSUITE_JAEGER", "jaeger-"+JaegerVersion)
	if err == nil {
		err = executable(path, "jaeger "+JaegerVersion+" binary", "scripts/build-jaeger.sh", "KITEXSUITE_JAEGER")
	}
	return path, err
}

// Jaeger is a real trace backend: Jaeger v2 all-in-one (an OpenTelemetry
// Collector distribution) with in-memory storage, receiving OTLP over gRPC
// and HTTP and jaeger-client's thrift over HTTP (the collector's
// /api/traces), and answering its query API, every port on loopback.
type Jaeger struct {
	bin, dir                  string
	otlpGRPC, otlpHTTP, query string
	thriftHTTP                string
	tr                        *http.Transport

	owner testing.TB // the test whose end stops Jaeger, restarted or not
	mu    sync.Mutex
	proc  *Process
}

// StartJaeger starts Jaeger on free loopback ports and waits until it
// accepts OTLP and answers queries; tb's cleanup stops it.
func StartJaeger(tb testing.TB) *Jaeger {
	tb.Helper()
	return StartJaegerOTLPOn(tb, "127.0.0.1")
}

// StartJaegerOTLPOn is StartJaeger with the two OTLP receivers on free
// ports of host instead of loopback (an address of the test's own network,
// such as the gateway of a kind cluster's docker network, so that pods
// can export to it); the query API stays on loopback.
func StartJaegerOTLPOn(tb testing.TB, host string) *Jaeger {
	tb.Helper()
	bin, err := JaegerBinary()
	if err != nil {
		tb.Fatal(err)
	}
	ports, err := freePorts(4) // query HTTP, query gRPC, health check, thrift HTTP
	if err != nil {
		tb.Fatal(err)
	}
	otlp, err := freePortsOn(host, 2)
	if err != nil {
		tb.Fatal(err)
	}
	j := &Jaeger{bin: bin, dir: tb.TempDir(), otlpGRPC: otlp[0], otlpHTTP: otlp[1], query: ports[0], thriftHTTP: ports[3], tr: newTransport(nil), owner: tb}
	// Only what the tests use: OTLP and jaeger-client's thrift over HTTP
	// in (Jaeger v2 opens a jaeger receiver protocol only when the config
	// names it), memory storage, the query API and a health check; the
	// collector's own telemetry stays off the network.
	config := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %q
    grpc:
      endpoint: %q
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %q
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %q
      http:
        endpoint: %q
  jaeger:
    protocols:
      thrift_http:
        endpoint: %q
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`, j.query, ports[1], ports[2], j.otlpGRPC, j.otlpHTTP, j.thriftHTTP)
	if err := os.WriteFile(filepath.Join(j.dir, "jaeger.yaml"), []byte(config), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(j.tr.CloseIdleConnections)
	if err := j.start(); err != nil {
		tb.Fatalf("jaeger harness: %v", err)
	}
	return j
}

// OTLPGRPCAddr is the host:port of the OTLP/gRPC receiver.
func (j *Jaeger) OTLPGRPCAddr() string { return j.otlpGRPC }

// OTLPHTTPAddr is the host:port of the OTLP/HTTP receiver.
func (j *Jaeger) OTLPHTTPAddr() string { return j.otlpHTTP }

// ThriftHTTPURL is where jaeger-client's HTTP reporter posts its spans
// (transport.NewHTTPTransport).
func (j *Jaeger) ThriftHTTPURL() string { return "http://" + j.thriftHTTP + "/api/traces" }

// QueryURL is the base URL of the query API (/api/traces/{id}, /api/services).
func (j *Jaeger) QueryURL() string { return "http://" + j.query }

// Stop stops Jaeger (its in-memory traces are lost); exporters see the
// backend down. Jaeger may take its time to shut down with exporters
// connected: after 5 s it is killed. Stopping a stopped Jaeger does nothing.
func (j *Jaeger) Stop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.proc != nil {
		j.tr.CloseIdleConnections()
		_ = j.proc.Stop(5 * time.Second)
		j.proc = nil
	}
}

// Restart starts a stopped Jaeger again on the same ports; it runs until
// the test that started it ends.
func (j *Jaeger) Restart(tb testing.TB) {
	tb.Helper()
	j.Stop()
	if err := j.start(); err != nil {
		tb.Fatalf("jaeger harness: restart: %v", err)
	}
}

func (j *Jaeger) start() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	p, err := NewProcess(j.owner, ProcessSpec{Name: "jaeger", Path: j.bin, Dir: j.dir, Args: []string{"--config", filepath.Join(j.dir, "jaeger.yaml")}})
	if err != nil {
		return err
	}
	j.proc = p
	return p.awaitReady(60*time.Second, j.probe)
}

// probe succeeds once the query API answers and the receivers accept.
func (j *Jaeger) probe(ctx context.Context) error {
	for _, addr := range []string{j.otlpGRPC, j.otlpHTTP, j.thriftHTTP} {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		_ = c.Close()
	}
	var services struct{ Data []string }
	return j.get(ctx, "/api/services", &services)
}

// JaegerSpan is one span of a trace as the query API returns it.
type JaegerSpan struct {
	SpanID, ParentSpanID string
	Service, Operation   string
	Kind                 string // span.kind: client, server, internal, ...
	Error                bool   // the span's status is Error
	Start                time.Time
	Duration             time.Duration
}

// ErrTraceNotFound is Trace's error for a trace the backend does not have
// (yet): spans arrive in batches.
var ErrTraceNotFound = errors.New("trace not found")

// Trace returns the spans the backend holds for traceID (32 hex digits).
func (j *Jaeger) Trace(ctx context.Context, traceID string) ([]JaegerSpan, error) {
	var body struct {
		Data []struct {
			Spans []struct {
				SpanID        string `json:"spanID"`
				OperationName string `json:"operationName"`
				References    []struct {
					RefType string `json:"refType"`
					SpanID  string `json:"spanID"`
				} `json:"references"`
				StartTime int64  `json:"startTime"` // µs since the epoch
				Duration  int64  `json:"duration"`  // µs
				ProcessID string `json:"processID"`
				Tags      []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := j.get(ctx, "/api/traces/"+traceID, &body); err != nil {
		return nil, err
	}
	if len(body.Data) == 0 {
		return nil, ErrTraceNotFound
	}
	var out []JaegerSpan
	for _, tr := range body.Data {
		for _, s := range tr.Spans {
			js := JaegerSpan{SpanID: s.SpanID, Operation: s.OperationName, Service: tr.Processes[s.ProcessID].ServiceName,
				Start: time.UnixMicro(s.StartTime), Duration: time.Duration(s.Duration) * time.Microsecond}
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" {
					js.ParentSpanID = r.SpanID
				}
			}
			for _, tag := range s.Tags {
				switch tag.Key {
				case "span.kind":
					js.Kind = fmt.Sprint(tag.Value)
				case "error":
					js.Error = tag.Value == true
				}
			}
			out = append(out, js)
		}
	}
	return out, nil
}

func (j *Jaeger) get(ctx context.Context, path string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL()+path, nil)
	if err != nil {
		return err
	}
	resp, err := j.tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ErrTraceNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jaeger %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}
