package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/transport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/internal/testservice"
)

// readyzTimeout bounds /readyz's look at the resolver, below the kubelet's
// default probe timeout (1 s): the first Resolve of a target waits for the
// backend's first list, and a probe that times out tells less than a 503
// with the reason.
const readyzTimeout = 500 * time.Millisecond

// errDraining is /readyz's answer once the gateway is stopping.
var errDraining = errors.New("draining: the gateway is stopping")

// StartGateway runs the HTTP gateway: GET /order?item=X[&fail=biz|error|slow]
// calls orders over Thrift with TTHeader. GET /healthz (liveness) answers
// 200 while the process serves; GET /readyz (readiness) answers 200 only
// while the resolver lists at least one orders instance — a gateway that
// cannot reach orders takes no traffic — and 503 with the reason
// otherwise, and from the moment Stop is called.
//
// Stop fails /readyz, keeps serving for o.Drain (so load balancers that
// route by readiness stop sending first), then shuts the HTTP server down,
// giving in-flight requests o.ExitWait (default 10 s).
func StartGateway(o Options) (*Service, error) {
	if o.Resolver == nil {
		return nil, errors.New("chain: the gateway needs a Resolver to find orders")
	}
	toOrders, err := testservice.NewForward(testservice.Thrift, o.target(Orders), "",
		// The gateway gives up before orders does (2 s), so a slow
		// inventory shows as the gateway's timeout, not a race of two.
		append(o.clientOptions(Gateway), client.WithTransportProtocol(transport.TTHeaderFramed), client.WithRPCTimeout(time.Second))...)
	if err != nil {
		return nil, err
	}
	var draining atomic.Bool
	ready := func(ctx context.Context) error {
		if draining.Load() {
			return errDraining
		}
		ctx, cancel := context.WithTimeout(ctx, readyzTimeout)
		defer cancel()
		// The target the Kitex client resolves: the resolver maps the
		// callee to it, and keeps one watch per target, which this shares.
		target := o.Resolver.Target(ctx, rpcinfo.NewEndpointInfo(o.target(Orders), "", nil, nil))
		res, err := o.Resolver.Resolve(ctx, target)
		switch {
		case err != nil:
			return fmt.Errorf("orders (%s) not resolved: %w", target, err)
		case len(res.Instances) == 0:
			return fmt.Errorf("orders (%s): no instance", target)
		}
		return nil
	}
	tracer := o.TracerProvider.Tracer("github.com/kitexsuite/suite/examples/chain")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintln(w, err)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /order", func(w http.ResponseWriter, r *http.Request) {
		ctx := o.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, "GET /order", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.String("url.path", "/order")))
		defer span.End()
		req := &testservice.Request{Message: r.URL.Query().Get("item"), Hops: 1}
		switch r.URL.Query().Get("fail") {
		case "biz":
			req.Action = testservice.ActionBizError
		case "error":
			req.Action = testservice.ActionError
		case "slow":
			req.Action, req.SleepMs = testservice.ActionSleep, 3000 // beyond every RPC timeout of the chain
		}
		resp, err := toOrders(ctx, req)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error(), "trace_id": span.SpanContext().TraceID().String()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"item": resp.Message, "trace_id": span.SpanContext().TraceID().String(), "hops": len(resp.TraceIDs)})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(o.Listener) }()
	stop := func() error {
		draining.Store(true)
		if o.Drain > 0 {
			klog.Infof("gateway: unready, draining for %v", o.Drain)
			time.Sleep(o.Drain) // a deliberate grace period, not synchronisation
		}
		exitWait := o.ExitWait
		if exitWait <= 0 {
			exitWait = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), exitWait)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
		return err
	}
	return &Service{Name: Gateway, Addr: o.Listener.Addr().String(), stop: stop}, nil
}
