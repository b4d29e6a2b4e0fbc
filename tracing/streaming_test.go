package tracing_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/streamclient"
	"github.com/cloudwego/kitex/pkg/remote/trans/ttstream"
	"github.com/cloudwego/kitex/server"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb/streamservice"
	ttstreamservice "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echottstream/echoservice"
	"github.com/kitexsuite/suite/tracing"
)

func (e *env) streamServer(codec testservice.Codec) string {
	e.t.Helper()
	svr, err := testservice.Start("streamer", codec, &testservice.Handler{TraceID: traceIDOf}, server.WithSuite(tracing.NewServerSuite(e.opt...)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = svr.Stop() })
	return svr.Addr
}

func (e *env) pbStreamClient(addr string) streamservice.Client {
	e.t.Helper()
	c, err := streamservice.NewClient("streamer", client.WithHostPorts(addr), client.WithSuite(tracing.NewClientSuite(e.opt...)))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// checkStreamSpans asserts one client and one server span in the caller's
// trace, linked parent to child, with the message counts each side saw.
func checkStreamSpans(t *testing.T, spans []sdkSpan, rootTrace trace.TraceID, name string, clientSent, clientRecv int) {
	t.Helper()
	cl, sv := kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
	for _, s := range []sdkSpan{cl, sv} {
		if s.Name() != name {
			t.Errorf("span name %q, want %q", s.Name(), name)
		}
		if s.SpanContext().TraceID() != rootTrace {
			t.Errorf("%s span not in the caller's trace", s.SpanKind())
		}
		wantAttr(t, s, "rpc.system.name", "grpc")
	}
	if sv.Parent().SpanID() != cl.SpanContext().SpanID() {
		t.Errorf("server span parent %s, want the client span %s", sv.Parent().SpanID(), cl.SpanContext().SpanID())
	}
	wantAttr(t, cl, "kitex.stream.messages.sent", itoa(clientSent))
	wantAttr(t, cl, "kitex.stream.messages.received", itoa(clientRecv))
	wantAttr(t, sv, "kitex.stream.messages.received", itoa(clientSent))
	wantAttr(t, sv, "kitex.stream.messages.sent", itoa(clientRecv))
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStreamingKinds(t *testing.T) {
	t.Run("bidi", func(t *testing.T) {
		e := newEnv(t)
		c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
		ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
		st, err := c.BidiStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := st.Send(&echopb.EchoRequest{Message: "m"}); err != nil {
				t.Fatal(err)
			}
			resp, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.TraceIds[0] != root.SpanContext().TraceID().String() {
				t.Fatalf("server handler saw trace %s, want %s", resp.TraceIds[0], root.SpanContext().TraceID())
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("want io.EOF after CloseSend, got %v", err)
		}
		root.End()
		checkStreamSpans(t, e.waitSpans(3), root.SpanContext().TraceID(), "echopb.StreamService/BidiStream", 3, 3)
	})
	t.Run("client", func(t *testing.T) {
		e := newEnv(t)
		c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
		ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
		st, err := c.ClientStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			if err := st.Send(&echopb.EchoRequest{Message: "m"}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := st.CloseAndRecv()
		if err != nil || resp.Message != "4" {
			t.Fatalf("CloseAndRecv = %v, %v; want count 4", resp, err)
		}
		root.End()
		checkStreamSpans(t, e.waitSpans(3), root.SpanContext().TraceID(), "echopb.StreamService/ClientStream", 4, 1)
	})
	t.Run("server", func(t *testing.T) {
		e := newEnv(t)
		c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
		ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
		st, err := c.ServerStream(ctx, &echopb.EchoRequest{Message: "m", Hops: 5})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			if _, err := st.Recv(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			n++
		}
		root.End()
		if n != 5 {
			t.Fatalf("received %d messages, want 5", n)
		}
		checkStreamSpans(t, e.waitSpans(3), root.SpanContext().TraceID(), "echopb.StreamService/ServerStream", 1, 5)
	})
	t.Run("thrift_bidi", func(t *testing.T) {
		e := newEnv(t)
		addr := e.streamServer(testservice.Thrift)
		c, err := echoservice.NewStreamClient("streamer", streamclient.WithHostPorts(addr), streamclient.WithSuite(tracing.NewClientSuite(e.opt...)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
		st, err := c.BidiStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if err := st.Send(&echo.EchoRequest{Message: "m"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("want io.EOF, got %v", err)
		}
		root.End()
		checkStreamSpans(t, e.waitSpans(3), root.SpanContext().TraceID(), "echo.EchoService/BidiStream", 2, 2)
	})
}

func TestStreamClientCancelEndsSpans(t *testing.T) {
	e := newEnv(t)
	c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// ActionSleep makes the server stream until the client goes away.
	st, err := c.ServerStream(ctx, &echopb.EchoRequest{Message: "m", Action: testservice.ActionSleep, SleepMs: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	for {
		if _, err := st.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("stream ended normally after cancel")
			}
			break
		}
	}
	spans := e.waitSpans(2)
	cl := kindSpan(t, spans, trace.SpanKindClient)
	wantAttr(t, cl, "error.type", "CANCELLED") // gRPC: the status code name
	if cl.Status().Code != codes.Error {
		t.Errorf("client span status %v, want Error", cl.Status())
	}
	sv := kindSpan(t, spans, trace.SpanKindServer)
	if _, ok := attr(sv, "error.type"); !ok {
		t.Errorf("server span of a cancelled stream has no error.type")
	}
}

func TestStreamMessageEventsAndSizes(t *testing.T) {
	e := newEnv(t, tracing.WithMessageEvents())
	c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
	st, err := c.ServerStream(context.Background(), &echopb.EchoRequest{Message: "sized", Hops: 2})
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
	cl := kindSpan(t, e.waitSpans(2), trace.SpanKindClient)
	received := 0
	for _, ev := range cl.Events() {
		if ev.Name == "kitex.stream.message" {
			for _, kv := range ev.Attributes {
				if kv.Key == "kitex.message.direction" && kv.Value.AsString() == "received" {
					received++
				}
			}
		}
	}
	if received != 2 {
		t.Errorf("client span has %d RECEIVED message events, want 2", received)
	}
	if got, _ := attr(cl, "kitex.stream.bytes.received"); got == "" || got == "0" {
		t.Errorf("kitex.stream.bytes.received = %q, want the bytes of two messages", got)
	}
}

// TTHeader streaming (Kitex's own streaming protocol) carries the context in
// its header frame.
func TestTTHeaderStreaming(t *testing.T) {
	e := newEnv(t, tracing.WithWireAttributes())
	addr := e.streamServer(testservice.TTStream)
	// A short-connection pool closes the connection with the stream; the
	// default mux pool keeps it (and its goroutines) for the process.
	shortConn := client.WithTTHeaderStreamingOptions(client.WithTTHeaderStreamingTransportOptions(ttstream.WithClientShortConnPool()))
	c, err := ttstreamservice.NewClient("streamer", client.WithHostPorts(addr), client.WithSuite(tracing.NewClientSuite(e.opt...)), shortConn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := e.tp.Tracer("test").Start(context.Background(), "root")
	st, err := c.BidiStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := st.Send(ctx, &echo.EchoRequest{Message: "m"}); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TraceIds[0] != root.SpanContext().TraceID().String() {
			t.Fatalf("server handler saw trace %s, want %s", resp.TraceIds[0], root.SpanContext().TraceID())
		}
	}
	if err := st.CloseSend(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(ctx); err != io.EOF {
		t.Fatalf("want io.EOF after CloseSend, got %v", err)
	}
	root.End()
	spans := e.waitSpans(3)
	cl, sv := kindSpan(t, spans, trace.SpanKindClient), kindSpan(t, spans, trace.SpanKindServer)
	if sv.Parent().SpanID() != cl.SpanContext().SpanID() {
		t.Errorf("server span parent %s, want the client span %s", sv.Parent().SpanID(), cl.SpanContext().SpanID())
	}
	for _, s := range []sdkSpan{cl, sv} {
		// Kitex's TTHeader streaming server does not carry the IDL package.
		if !strings.HasSuffix(s.Name(), "EchoService/BidiStream") {
			t.Errorf("span name %q, want [package.]EchoService/BidiStream", s.Name())
		}
		wantAttr(t, s, "kitex.transport", "ttheader_streaming")
		wantAttr(t, s, "rpc.system.name", "kitex")
	}
	wantAttr(t, cl, "kitex.stream.messages.sent", "3")
	wantAttr(t, sv, "kitex.stream.messages.received", "3")
}

// A stream the server ends with an error ends both spans with error.type.
func TestStreamServerErrorEndsSpans(t *testing.T) {
	e := newEnv(t)
	c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
	st, err := c.BidiStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&echopb.EchoRequest{Action: testservice.ActionError}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == nil || err == io.EOF {
		t.Fatalf("want the server's error, got %v", err)
	}
	spans := e.waitSpans(2)
	for _, s := range spans {
		if _, ok := attr(s, "error.type"); !ok {
			t.Errorf("%s span of a failed stream has no error.type", s.SpanKind())
		}
		if s.Status().Code != codes.Error {
			t.Errorf("%s span status %v, want Error", s.SpanKind(), s.Status())
		}
	}
}

// Kitex never finishes a gRPC client stream whose caller cancels and stops
// calling Recv; the Suite ends its span when the context ends.
func TestAbandonedStreamSpanEnds(t *testing.T) {
	e := newEnv(t)
	c := e.pbStreamClient(e.streamServer(testservice.Protobuf))
	ctx, cancel := context.WithCancel(context.Background())
	// The server sends two messages and ends its side; the client reads one,
	// cancels and never touches the stream again.
	st, err := c.ServerStream(ctx, &echopb.EchoRequest{Message: "m", Hops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	cl := kindSpan(t, e.waitSpans(2), trace.SpanKindClient)
	wantAttr(t, cl, "error.type", "CANCELLED") // gRPC: the status code name
	wantAttr(t, cl, "rpc.method", "echopb.StreamService/ServerStream")
	wantAttr(t, cl, "kitex.stream.messages.received", "1")
	if cl.Status().Code != codes.Error {
		t.Errorf("abandoned stream span status %v, want Error", cl.Status())
	}
}
