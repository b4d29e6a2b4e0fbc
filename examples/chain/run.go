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
	"strings"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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

// Config is what a chain binary reads from its flags, whose defaults come
// from the environment (KITEXSUITE_*, CONSUL_HTTP_ADDR, KUBECONFIG,
// POD_NAMESPACE); tracing reads the standard OTEL_* variables.
type Config struct {
	Service       string
	Listen        string
	MetricsListen string
	Registry      string // etcd, consul or k8s
	EtcdEndpoints string
	Kubeconfig    string
	Namespace     string
	Drain         time.Duration
	TTL           time.Duration

	envErr error // a malformed environment default, reported by Run
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Flags registers c's flags on fs.
func (c *Config) Flags(fs *flag.FlagSet) {
	listen := ":8888"
	if c.Service == Gateway {
		listen = ":8080"
	}
	fs.StringVar(&c.Listen, "listen", env("KITEXSUITE_LISTEN", listen), "address to serve on (RPC; HTTP for the gateway)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env("KITEXSUITE_METRICS_LISTEN", ":9090"), "address of the Prometheus /metrics endpoint (empty: none)")
	fs.StringVar(&c.Registry, "registry", env("KITEXSUITE_REGISTRY", "etcd"), "service registry: etcd, consul or k8s")
	fs.StringVar(&c.EtcdEndpoints, "etcd-endpoints", env("KITEXSUITE_ETCD_ENDPOINTS", "127.0.0.1:2379"), "etcd endpoints, comma-separated")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", env("KUBECONFIG", ""), "kubeconfig outside a cluster (in a pod: the in-cluster config)")
	fs.StringVar(&c.Namespace, "namespace", env("POD_NAMESPACE", "default"), "Kubernetes namespace of the chain")
	fs.DurationVar(&c.Drain, "drain", 2*time.Second, "how long a stopping server stays deregistered before closing (etcd, consul)")
	ttl := 10 * time.Second
	if v := os.Getenv("KITEXSUITE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			c.envErr = fmt.Errorf("KITEXSUITE_TTL=%q: %w", v, err) // flag parsing reports a bad -ttl itself
		}
		ttl = d
	}
	fs.DurationVar(&c.TTL, "ttl", ttl, "how long a crashed server stays registered: etcd lease, Consul check TTL")
}

// Run runs c's service until ctx is done (SIGTERM), then deregisters,
// drains and stops.
func Run(ctx context.Context, c Config) error {
	if c.envErr != nil {
		return c.envErr
	}
	klog.SetLogger(logging.NewLogger(logging.WithHandler(slog.NewJSONHandler(os.Stderr, nil)), logging.WithLevel(klog.LevelInfo)))
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
	defer setup.Shutdown(context.Background())

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
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: strings.Split(c.EtcdEndpoints, ","), DialTimeout: 5 * time.Second,
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second})},
		})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		closers = append(closers, func() { _ = cli.Close() })
		reg, resolver = etcdreg.NewRegistry(cli, etcdreg.WithDrainDelay(c.Drain), etcdreg.WithTTL(c.TTL)), etcdreg.NewResolver(cli, etcdreg.WithDiscoveryOptions(self))
	case "consul":
		cli, err := consulapi.NewClient(consulapi.DefaultConfig()) // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT
		if err != nil {
			return nil, nil, nil, nil, err
		}
		reg, resolver = consulreg.NewRegistry(cli, consulreg.WithDrainDelay(c.Drain), consulreg.WithTTL(c.TTL)), consulreg.NewResolver(cli, consulreg.WithDiscoveryOptions(self))
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
		reg, resolver = k8sreg.NewRegistry(cs), k8sreg.NewResolver(cs, k8sreg.WithDiscoveryOptions(self))
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
