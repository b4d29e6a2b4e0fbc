package metrics_test

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"
	"github.com/cloudwego/kitex/pkg/retry"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb/streamservice"
	"github.com/kitexsuite/suite/metrics"
)

// A gRPC stream is one call, and its messages are counted each way.
func TestStreamMessagesCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	finished := testservice.NewFinishSignal(16)
	svr, err := testservice.Start("streamer", testservice.Protobuf, &testservice.Handler{},
		server.WithTracer(finished), server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg))))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svr.Stop() }()
	c, err := streamservice.NewClient("streamer", client.WithHostPorts(svr.Addr),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg))))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.ServerStream(context.Background(), &echopb.EchoRequest{Hops: 4})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, finished: finished}
	e.waitServer(1)
	msgs := family(t, reg, "kitex_server_stream_messages_total")
	const method = "echopb.StreamService/ServerStream"
	if got := counterValue(series(t, msgs, map[string]string{"method": method, "direction": "sent", "rpc_system": "grpc"})); got != 4 {
		t.Errorf("server sent %v messages, want 4", got)
	}
	if got := counterValue(series(t, family(t, reg, "kitex_client_stream_messages_total"), map[string]string{"method": method, "direction": "received"})); got != 4 {
		t.Errorf("client received %v messages, want 4", got)
	}
	if got := counterValue(series(t, family(t, reg, "kitex_server_calls_total"), map[string]string{"method": method, "outcome": "success"})); got != 1 {
		t.Errorf("server counted %v stream calls, want 1", got)
	}
}

// Every attempt beyond the first under a retry policy is counted.
func TestRetryAttemptsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	policy := retry.NewFailurePolicy()
	policy.WithMaxRetryTimes(2)
	e := newEnv(t, nil, []client.Option{client.WithFailureRetry(policy),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg)))})
	_, err := e.client.Echo(context.Background(), &echo.EchoRequest{Action: testservice.ActionSleep, SleepMs: 200},
		callopt.WithRPCTimeout(20*time.Millisecond))
	if err == nil {
		t.Fatal("want every attempt to time out")
	}
	if got := counterValue(series(t, family(t, reg, "kitex_client_retry_attempts_total"), map[string]string{"method": echoMethod, "callee": "backend"})); got != 2 {
		t.Errorf("retry attempts = %v, want 2", got)
	}
	if got := counterValue(series(t, family(t, reg, "kitex_client_calls_total"), map[string]string{"error_type": "timeout"})); got != 1 {
		t.Errorf("client calls = %v, want 1 logical call", got)
	}
	e.waitServer(3)
}

// A client stream its caller cancels and abandons is still counted, once,
// as a failure of type canceled.
func TestAbandonedStreamCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	svr, err := testservice.Start("streamer", testservice.Protobuf, &testservice.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svr.Stop() }()
	c, err := streamservice.NewClient("streamer", client.WithHostPorts(svr.Addr),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := c.ServerStream(ctx, &echopb.EchoRequest{Hops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel() // and never touch the stream again
	// The Suite records from a context.AfterFunc goroutine: wait for the
	// series to appear (an event, polled for at most 10 s).
	deadline := time.Now().Add(10 * time.Second)
	for testutil.CollectAndCount(reg, "kitex_client_calls_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned stream was never counted")
		}
		runtime.Gosched()
	}
	m := series(t, family(t, reg, "kitex_client_calls_total"), map[string]string{"method": "echopb.StreamService/ServerStream"})
	if labelValue(m, "error_type") != "canceled" || counterValue(m) != 1 {
		t.Errorf("abandoned stream counted as %s = %v, want error_type canceled, 1", labelsString(m), counterValue(m))
	}
}
