package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoextra"
	extra "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoextra/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

// A call Kitex rejects before the handler runs (here the server's ACL) is
// counted, with its error type.
func TestRejectedBeforeHandlerIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	deny := server.WithACLRules(func(context.Context, interface{}) error { return errors.New("not you") })
	e := newEnv(t, []server.Option{deny, server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg)))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err == nil {
		t.Fatal("want the ACL to reject the call")
	}
	e.waitServer(1)
	m := series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"outcome": "failure", "error_type": "acl"})
	if got := counterValue(m); got != 1 {
		t.Errorf("ACL rejections counted = %v, want 1", got)
	}
}

// 10 000 calls to methods the server does not define, each with a random
// name, make one server series, not 10 000.
func TestUnknownMethodNamesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg)))}, nil)

	// A client whose IDL has 10 000 methods the server lacks: the Missing
	// method of echoextra under random names.
	svc := extra.NewServiceInfoForClient()
	missing := svc.Methods["Missing"]
	const n = 10000
	names := make([]string, n)
	rng := rand.New(rand.NewSource(1))
	for i := range names {
		names[i] = fmt.Sprintf("M%016x", rng.Uint64())
		svc.Methods[names[i]] = missing
	}
	cli, err := client.NewClient(svc, client.WithHostPorts(e.svr.Addr), client.WithTransportProtocol(transport.TTHeader),
		client.WithDestService("backend"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.(interface{ Close() error }).Close() }()
	for _, name := range names {
		args := &echoextra.EchoServiceMissingArgs{Req: &echo.EchoRequest{}}
		res := &echoextra.EchoServiceMissingResult{}
		if err := cli.Call(context.Background(), name, args, res); err == nil {
			t.Fatalf("calling unknown method %s succeeded", name)
		}
	}
	e.waitServer(n)
	if got := testutil.CollectAndCount(reg, "kitex_server_calls_total"); got != 1 {
		t.Fatalf("%d unknown method names made %d server series, want 1", n, got)
	}
	m := series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"method": "_OTHER", "error_type": "unknown_method"})
	if got := counterValue(m); got != n {
		t.Errorf("unknown-method calls counted = %v, want %d", got, n)
	}
}

// Caller names come from the wire: past the limit they become _OTHER.
func TestPeerLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithPeerLimit(2)))}, nil)
	for _, caller := range []string{"a", "b", "c", "d", "a"} {
		c, err := echoservice.NewClient("backend", client.WithHostPorts(e.svr.Addr), client.WithTransportProtocol(transport.TTHeader),
			client.WithMetaHandler(transmeta.ClientTTHeaderHandler), // sends the caller's name
			client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: caller}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
		e.waitServer(1) // the server records after replying: keep the order of first sight
	}
	mf := family(t, reg, "kitex_server_calls_total")
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		got[labelValue(m, "caller")] += counterValue(m)
	}
	want := map[string]float64{"a": 2, "b": 1, "_OTHER": 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calls by caller = %v, want %v", got, want)
	}
}

func TestPeerAllowList(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg),
		metrics.WithPeerAllowList("gateway")))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"caller": "_OTHER"})
}

// WithFilter skips a method entirely; WithServiceInfo pre-creates zero
// series for every method, before any call.
func TestFilterAndPrecreatedSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	skipEcho := metrics.WithFilter(func(_ context.Context, ri rpcinfo.RPCInfo) bool { return ri.Invocation().MethodName() != "Echo" })
	s := metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithServiceInfo(echoservice.NewServiceInfo()))
	for _, method := range []string{"echo.EchoService/Echo", "echo.EchoService/BidiStream", "echo.EchoService/ServerStream"} {
		if got := counterValue(series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"method": method, "outcome": "success", "status_code": "OK"})); got != 0 {
			t.Errorf("pre-created %s = %v, want 0", method, got)
		}
	}
	reg2 := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(s),
		server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg2), skipEcho))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	if n := testutil.CollectAndCount(reg2, "kitex_server_calls_total"); n != 0 {
		t.Errorf("filtered Echo made %d series, want 0", n)
	}
	if got := counterValue(series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"method": echoMethod, "caller": "frontend", "outcome": "success"})); got != 1 {
		t.Errorf("unfiltered Suite counted %v, want 1", got)
	}
}

// An explicit empty allow-list admits no peer: every named caller is _OTHER.
func TestEmptyPeerAllowListAdmitsNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, []server.Option{server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg), metrics.WithPeerAllowList()))}, nil)
	if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	e.waitServer(1)
	m := series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"outcome": "success"})
	if got := labelValue(m, "caller"); got != "_OTHER" {
		t.Errorf("caller %q under an empty allow-list, want _OTHER", got)
	}
}

// bizCodeHandler answers each request with the business status code its
// message names (the server's handler forwards one hop to it).
var bizCodeHandler = &testservice.Handler{Next: func(_ context.Context, req *testservice.Request) (*testservice.Response, error) {
	code, err := strconv.Atoi(req.Message)
	if err != nil {
		return nil, err
	}
	return nil, kerrors.NewBizStatusError(int32(code), "chosen by the handler")
}}

// Business codes are the handler's to choose: past the limit, _OTHER.
func TestBizStatusCodeLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := []metrics.Option{metrics.WithRegisterer(reg), metrics.WithBizStatusCodeLimit(2)}
	e := newEnvWith(t, bizCodeHandler, []server.Option{server.WithSuite(metrics.NewServerSuite(opts...))},
		[]client.Option{client.WithSuite(metrics.NewClientSuite(opts...))})
	for _, code := range []string{"7", "8", "9", "7", "1000"} {
		if _, err := e.client.Echo(context.Background(), &echo.EchoRequest{Message: code, Hops: 1}); err == nil {
			t.Fatalf("code %s: want a business error", code)
		}
		e.waitServer(1) // in order: the first two codes seen are admitted
	}
	want := map[string]float64{"7": 2, "8": 1, "_OTHER": 2}
	for _, side := range []string{"client", "server"} {
		got := map[string]float64{}
		for _, m := range family(t, reg, "kitex_"+side+"_calls_total").GetMetric() {
			got[labelValue(m, "status_code")] += counterValue(m)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s calls by status_code = %v, want %v", side, got, want)
		}
	}
}
