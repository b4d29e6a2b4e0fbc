package chain

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/transport"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/metrics"
	"github.com/kitexsuite/suite/tracing"
)

// The services of the chain.
const (
	Gateway   = "gateway"
	Orders    = "orders"
	Inventory = "inventory"
	// RPCPort is where orders and inventory serve in Kubernetes.
	RPCPort = 8888
)

// Options is what one service of the chain runs with.
type Options struct {
	Listener       net.Listener         // the RPC (or, for the gateway, HTTP) listener
	TracerProvider trace.TracerProvider // spans of this service
	Propagator     propagation.TextMapPropagator
	Metrics        *prometheus.Registry        // this service's metrics
	Registry       registry.Registry           // how this service registers (nil: it does not)
	Resolver       discovery.Resolver          // how it finds the next service (nil for inventory)
	Target         func(service string) string // the resolver target of a service (default: its name)
	ExitWait       time.Duration               // in-flight grace after the drain (Kitex default 5 s; the gateway's HTTP shutdown, default 10 s)
	Drain          time.Duration               // the gateway: how long it fails /readyz before it stops serving
}

func (o Options) target(service string) string {
	if o.Target != nil {
		return o.Target(service)
	}
	return service
}

func (o Options) serverOptions(service string) []server.Option {
	opts := []server.Option{
		server.WithListener(o.Listener),
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: service}),
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(o.TracerProvider), tracing.WithPropagators(o.Propagator))),
		server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(o.Metrics))),
	}
	if o.Registry != nil {
		opts = append(opts, server.WithRegistry(o.Registry))
	}
	if o.ExitWait > 0 {
		opts = append(opts, server.WithExitWaitTime(o.ExitWait))
	}
	return opts
}

func (o Options) clientOptions(caller string) []client.Option {
	return []client.Option{
		client.WithClientBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: caller}),
		client.WithResolver(o.Resolver),
		discoverycore.WithFastRefresh(nil, 0),
		discoverycore.WithUnsentRetry(), // a call racing a replica's deregistration moves on
		client.WithRPCTimeout(2 * time.Second),
		// Kitex's default is 50 ms. A dial to a replica that was just
		// SIGKILLed is usually refused at once but was seen to hang until
		// this timeout; kept short, the dial fails and Kitex retries it on
		// another replica well within the callers' RPC timeouts.
		client.WithConnectTimeout(200 * time.Millisecond),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(o.TracerProvider), tracing.WithPropagators(o.Propagator))),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(o.Metrics))),
	}
}

// Service is a running service of the chain.
type Service struct {
	Name string
	Addr string
	stop func() error
}

// Stop deregisters (and drains), then stops the service.
func (s *Service) Stop() error { return s.stop() }

func logCall(service string) func(ctx context.Context) string {
	return func(ctx context.Context) string {
		klog.CtxInfof(ctx, "%s: handling %s", service, rpcinfo.GetRPCInfo(ctx).To().Method())
		return trace.SpanContextFromContext(ctx).TraceID().String()
	}
}

// StartInventory runs inventory: Kitex Protobuf services served over gRPC.
func StartInventory(o Options) (*Service, error) {
	s, err := testservice.StartOn(o.Listener, Inventory, testservice.Protobuf, &testservice.Handler{TraceID: logCall(Inventory)}, o.serverOptions(Inventory)...)
	if err != nil {
		return nil, err
	}
	return &Service{Name: Inventory, Addr: s.Addr, stop: s.Stop}, nil
}

// StartOrders runs orders: a Kitex Thrift server (TTHeader) whose handler
// asks inventory over gRPC.
func StartOrders(o Options) (*Service, error) {
	// Also a backup request after 400 ms, to another replica (replacing
	// clientOptions' WithUnsentRetry, which it includes): a replica
	// SIGKILLed mid-traffic can leave a pooled HTTP/2 connection whose
	// streams wait for answers that never come until the registry drops
	// the replica (its TTL); the backup answers within the gateway's 1 s.
	toInventory, err := testservice.NewForward(testservice.Protobuf, o.target(Inventory), "",
		append(o.clientOptions(Orders), client.WithTransportProtocol(transport.GRPC),
			discoverycore.WithUnsentRetryAndBackup(400*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	s, err := testservice.StartOn(o.Listener, Orders, testservice.Thrift, &testservice.Handler{Next: toInventory, TraceID: logCall(Orders)}, o.serverOptions(Orders)...)
	if err != nil {
		return nil, err
	}
	return &Service{Name: Orders, Addr: s.Addr, stop: s.Stop}, nil
}

// Start runs the named service.
func Start(name string, o Options) (*Service, error) {
	switch name {
	case Gateway:
		return StartGateway(o)
	case Orders:
		return StartOrders(o)
	case Inventory:
		return StartInventory(o)
	}
	return nil, fmt.Errorf("chain: unknown service %q (want %s, %s or %s)", name, Gateway, Orders, Inventory)
}

// KubernetesTarget is the resolver target of a service of the chain in
// namespace ns.
func KubernetesTarget(ns string) func(string) string {
	return func(service string) string { return service + "." + ns + ":" + strconv.Itoa(RPCPort) }
}
