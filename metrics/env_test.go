package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
)

// env is a real Kitex server and client over loopback, instrumented with
// the options the test gives.
type env struct {
	t        *testing.T
	svr      *testservice.Server
	client   echoservice.Client
	finished testservice.FinishSignal // a token per call the server has recorded
}

// waitServer waits until the server has recorded n more calls.
func (e *env) waitServer(n int) {
	e.t.Helper()
	if err := e.finished.Wait(n, 10*time.Second); err != nil {
		e.t.Fatal(err)
	}
}

// Business status errors travel in TTHeader with Kitex's TTHeader meta
// handlers, as Kitex documents; the env sets them up like a user would.
func newEnv(t *testing.T, serverOpts []server.Option, clientOpts []client.Option) *env {
	t.Helper()
	return newEnvWith(t, &testservice.Handler{}, serverOpts, clientOpts)
}

// newEnvWith is newEnv with the server's handler h.
func newEnvWith(t *testing.T, h *testservice.Handler, serverOpts []server.Option, clientOpts []client.Option) *env {
	t.Helper()
	finished := testservice.NewFinishSignal(100000)
	serverOpts = append([]server.Option{server.WithTracer(finished),
		server.WithMetaHandler(transmeta.ServerTTHeaderHandler)}, serverOpts...)
	svr, err := testservice.Start("backend", testservice.Thrift, h, serverOpts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svr: svr, finished: finished}
	t.Cleanup(e.stop)
	clientOpts = append([]client.Option{client.WithHostPorts(svr.Addr),
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "frontend"}),
		client.WithTransportProtocol(transport.TTHeader), client.WithMetaHandler(transmeta.ClientTTHeaderHandler)}, clientOpts...)
	if e.client, err = echoservice.NewClient("backend", clientOpts...); err != nil {
		t.Fatal(err)
	}
	return e
}

// stop stops the server; it returns once every call the server took is
// finished, and so recorded. Safe to call twice.
func (e *env) stop() {
	if e.svr != nil {
		_ = e.svr.Stop()
		e.svr = nil
	}
}

// family gathers reg and returns the named family, failing if absent.
func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("no metric family %q", name)
	return nil
}

// series returns the metric of mf whose labels include all of want.
func series(t *testing.T, mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	t.Helper()
	for _, m := range mf.GetMetric() {
		ok := true
		for k, v := range want {
			if labelValue(m, k) != v {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	var have []string
	for _, m := range mf.GetMetric() {
		have = append(have, labelsString(m))
	}
	t.Fatalf("%s has no series with %v; has:\n%s", mf.GetName(), want, strings.Join(have, "\n"))
	return nil
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func labelsString(m *dto.Metric) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func traceIDOf(ctx context.Context) string {
	return trace.SpanContextFromContext(ctx).TraceID().String()
}
