package chain

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config is what a chain binary reads from its flags, whose defaults come
// from the environment (KITEXSUITE_*, CONSUL_HTTP_ADDR, KUBECONFIG,
// POD_NAMESPACE); tracing reads the standard OTEL_* variables and the
// Consul client every CONSUL_* variable of the consul/api package
// (CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...).
type Config struct {
	Service       string
	Listen        string
	MetricsListen string
	Registry      string // etcd, consul or k8s
	EtcdEndpoints string
	Etcd          EtcdSecurity
	Kubeconfig    string
	Namespace     string
	// Drain is how long a stopping service keeps serving once it is
	// deregistered (etcd, Consul) or unready (Kubernetes, the gateway).
	Drain time.Duration
	// DrainTimeout bounds how long a Kitex server on the Kubernetes
	// registry waits for its endpoint to leave the ready set.
	DrainTimeout time.Duration
	// ExitWait is how long in-flight calls may still finish after the drain
	// (Kitex's WithExitWaitTime; the gateway's HTTP shutdown).
	ExitWait time.Duration
	TTL      time.Duration
	// MemoryLimit is the container's memory limit in bytes (0: none); Run
	// sets the Go soft memory limit to GoMemLimitPercent of it.
	MemoryLimit       int64
	GoMemLimitPercent int

	envErr error // a malformed environment default, reported by Run
}

// EtcdSecurity is how the etcd client authenticates: TLS files (CA to
// verify the server; a client certificate and key for mutual TLS) and a
// username and password (etcd's auth). All empty: plain, unauthenticated.
type EtcdSecurity struct {
	CACert, Cert, Key  string // PEM file paths
	Username, Password string
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// durationEnv is name's value as a duration, or def when it is unset. A
// malformed value is kept for Run to report: flag parsing reports a bad
// flag itself, but nothing would report a bad environment default.
func (c *Config) durationEnv(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil && c.envErr == nil {
		c.envErr = fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return d
}

// int64Env is durationEnv for an integer.
func (c *Config) int64Env(name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil && c.envErr == nil {
		c.envErr = fmt.Errorf("%s=%q: %w", name, v, err)
	}
	return n
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
	fs.StringVar(&c.Etcd.CACert, "etcd-cacert", env("KITEXSUITE_ETCD_CACERT", ""), "PEM file of the CA that signed etcd's server certificate (set: TLS to etcd)")
	fs.StringVar(&c.Etcd.Cert, "etcd-cert", env("KITEXSUITE_ETCD_CERT", ""), "PEM client certificate for etcd's mutual TLS (with -etcd-key)")
	fs.StringVar(&c.Etcd.Key, "etcd-key", env("KITEXSUITE_ETCD_KEY", ""), "PEM private key of -etcd-cert")
	fs.StringVar(&c.Etcd.Username, "etcd-username", env("KITEXSUITE_ETCD_USERNAME", ""), "etcd user (etcd auth); the password comes from KITEXSUITE_ETCD_PASSWORD")
	// The password has no flag: a flag's value shows in ps and, as a
	// default, in -help.
	c.Etcd.Password = os.Getenv("KITEXSUITE_ETCD_PASSWORD")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", env("KUBECONFIG", ""), "kubeconfig outside a cluster (in a pod: the in-cluster config)")
	fs.StringVar(&c.Namespace, "namespace", env("POD_NAMESPACE", "default"), "Kubernetes namespace of the chain")
	fs.DurationVar(&c.Drain, "drain", c.durationEnv("KITEXSUITE_DRAIN", 2*time.Second), "how long a stopping service keeps serving once deregistered (etcd, consul) or unready (k8s, the gateway)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.durationEnv("KITEXSUITE_DRAIN_TIMEOUT", 30*time.Second), "k8s: how long a stopping server waits for its endpoint to leave the ready set")
	fs.DurationVar(&c.ExitWait, "exit-wait", c.durationEnv("KITEXSUITE_EXIT_WAIT", 5*time.Second), "how long in-flight calls may finish after the drain (Kitex's exit wait)")
	fs.DurationVar(&c.TTL, "ttl", c.durationEnv("KITEXSUITE_TTL", 10*time.Second), "how long a crashed server stays registered: etcd lease, Consul check TTL")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", c.int64Env("KITEXSUITE_MEMORY_LIMIT", 0), "the container's memory limit in bytes (0: none); GOMEMLIMIT becomes -gomemlimit-percent of it unless GOMEMLIMIT is set")
	fs.IntVar(&c.GoMemLimitPercent, "gomemlimit-percent", int(c.int64Env("KITEXSUITE_GOMEMLIMIT_PERCENT", 90)), "the Go soft memory limit, in percent of -memory-limit")
}
