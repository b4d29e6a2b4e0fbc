package chain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/logging"
	"github.com/kitexsuite/suite/metrics"
	consulreg "github.com/kitexsuite/suite/registry/consul"
	etcdreg "github.com/kitexsuite/suite/registry/etcd"
	k8sreg "github.com/kitexsuite/suite/registry/k8s"
	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// flushTimeout bounds the span flush at exit: a collector that does not
// answer must not hold a stopping pod until its grace period ends.
const flushTimeout = 3 * time.Second

// Run runs c's service until ctx is done (SIGTERM), then deregisters,
// drains and stops.
func Run(ctx context.Context, c Config) error {
	if c.envErr != nil {
		return c.envErr
	}
	softLimit, err := applyMemoryLimit(c, os.Getenv("GOMEMLIMIT"))
	if err != nil {
		return err
	}
	klog.SetLogger(logging.NewLogger(logging.WithHandler(slog.NewJSONHandler(os.Stderr, nil)), logging.WithLevel(klog.LevelInfo)))
	if softLimit > 0 {
		klog.Infof("%s: Go soft memory limit %d bytes (%d%% of the %d-byte container limit)", c.Service, softLimit, c.GoMemLimitPercent, c.MemoryLimit)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg)) // the resolvers' and the OTel SDK's self-metrics
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())
	// This is a program's main, so it may set the global: the OTel SDK's
	// own metrics (with OTEL_GO_X_OBSERVABILITY=true: spans processed and
	// dropped by the batch processor, exporter results) go to the global
	// MeterProvider as the TracerProvider is built, and so reach /metrics.
	otel.SetMeterProvider(mp)
	setup, err := otelsetup.New(ctx, otelsetup.WithServiceName(c.Service))
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		_ = setup.Shutdown(flush)
	}()

	registryImpl, resolver, target, closeDiscovery, err := discoveryFor(c, mp)
	if err != nil {
		return err
	}
	defer closeDiscovery()

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	svc, err := Start(c.Service, Options{
		Listener: ln, TracerProvider: setup.TracerProvider(), Propagator: setup.Propagator(),
		Metrics: reg, Registry: registryImpl, Resolver: resolver, Target: target,
		ExitWait: c.ExitWait, Drain: c.Drain,
	})
	if err != nil {
		return err
	}
	klog.Infof("%s serving on %s (registry %s)", c.Service, svc.Addr, c.Registry)

	var metricsSrv *http.Server
	if c.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		metricsSrv = &http.Server{Addr: c.MetricsListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.Errorf("metrics endpoint: %v", err)
			}
		}()
	}
	<-ctx.Done()
	klog.Infof("%s stopping: deregister, drain, close", c.Service)
	err = svc.Stop()
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	return err
}

// discoveryFor builds the registry and resolver c asks for. The gateway
// registers nothing (clients reach it over HTTP).
func discoveryFor(c Config, mp metric.MeterProvider) (registry.Registry, discovery.Resolver, func(string) string, func(), error) {
	self := discoverycore.WithMeterProvider(mp)
	var (
		reg      registry.Registry
		resolver *discoverycore.Resolver
		target   func(string) string
		closers  []func()
	)
	switch c.Registry {
	case "etcd":
		cfg, err := etcdClientConfig(c)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		cli, err := clientv3.New(cfg)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("etcd client: %w", err)
		}
		closers = append(closers, func() { _ = cli.Close() })
		reg, resolver = etcdreg.NewRegistry(cli, etcdreg.WithDrainDelay(c.Drain), etcdreg.WithTTL(c.TTL), etcdreg.WithDiscoveryOptions(self)), etcdreg.NewResolver(cli, etcdreg.WithDiscoveryOptions(self))
	case "consul":
		// DefaultConfig reads the environment: CONSUL_HTTP_ADDR (a
		// "https://" prefix means TLS), CONSUL_HTTP_TOKEN or
		// CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_SSL, CONSUL_CACERT,
		// CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME.
		// NewClient loads the TLS and token files, so a bad one fails here.
		cli, err := consulapi.NewClient(consulapi.DefaultConfig())
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("consul client (CONSUL_* environment): %w", err)
		}
		reg, resolver = consulreg.NewRegistry(cli, consulreg.WithDrainDelay(c.Drain), consulreg.WithTTL(c.TTL), consulreg.WithDiscoveryOptions(self)), consulreg.NewResolver(cli, consulreg.WithDiscoveryOptions(self))
	case "k8s":
		cfg, err := rest.InClusterConfig()
		if err != nil && c.Kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		}
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("kubernetes config: %w", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		reg = k8sreg.NewRegistry(cs, k8sreg.WithDrainDelay(c.Drain), k8sreg.WithDrainTimeout(c.DrainTimeout), k8sreg.WithDiscoveryOptions(self))
		resolver = k8sreg.NewResolver(cs, k8sreg.WithDiscoveryOptions(self))
		target = KubernetesTarget(c.Namespace)
	default:
		return nil, nil, nil, nil, fmt.Errorf("unknown registry %q: want etcd, consul or k8s", c.Registry)
	}
	closers = append([]func(){func() { _ = resolver.Close() }}, closers...)
	if c.Service == Gateway {
		reg = nil
	}
	return reg, resolver, target, func() {
		for _, f := range closers {
			f()
		}
	}, nil
}

// Main is the whole main function of a chain binary: flags (defaults from
// the environment), run until SIGTERM or Ctrl-C, exit 1 on error.
func Main(service string) {
	cfg := Config{Service: service}
	cfg.Flags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, service+":", err)
		stop()
		os.Exit(1)
	}
}
