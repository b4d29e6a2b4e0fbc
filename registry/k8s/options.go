package k8s

import (
	"fmt"
	discoveryv1 "k8s.io/api/discovery/v1"
	"time"

	"github.com/kitexsuite/suite/discoverycore"
)

// Names this package defines in the Kubernetes API.
const (
	// DefaultReadinessGate is the pod condition type the in-pod registry sets
	// True on Register and False on Deregister. List it under the pod's
	// spec.readinessGates so the pod is Ready only while it is True.
	DefaultReadinessGate = "kitexsuite.io/serving"
	// WeightAnnotation on an EndpointSlice sets the weight of its endpoints
	// (an integer ≥ 1; Kitex's default weight otherwise).
	WeightAnnotation = "kitexsuite.io/weight"
	// RenewAnnotation and TTLAnnotation mark EndpointSlices the registry
	// manages for processes outside pods: the resolver ignores such a slice
	// once RenewAnnotation is older than TTLAnnotation.
	RenewAnnotation = "kitexsuite.io/renew-time"
	TTLAnnotation   = "kitexsuite.io/ttl"
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
	// slices the registry manages, so the EndpointSlice controller leaves
	// them alone.
	ManagedBy = "registry.kitexsuite.io"
)

// Defaults of the registry and resolver.
const (
	// DefaultDrainTimeout bounds how long Deregister waits for the pod's
	// endpoint to stop being ready.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultDrainDelay is how long Deregister still waits once the API shows
	// the endpoint not ready (or the managed slice deleted): clients watching
	// the same slices apply the change on their next balancer refresh (100 ms
	// with discoverycore.WithFastRefresh). Clients on Kitex's default 5 s
	// refresh need WithDrainDelay of 6 s or more.
	DefaultDrainDelay = time.Second
	// DefaultTTL is the lease of a managed EndpointSlice, renewed every
	// third of it.
	DefaultTTL = 15 * time.Second
	// DefaultResync is the informer resync period. Resyncs replay the local
	// cache and confirm nothing: the sync-age self-metric follows the API
	// server's answers to the informer's list and watch calls.
	DefaultResync = 30 * time.Second
	// DefaultClusterDomain is accepted at the end of targets.
	DefaultClusterDomain = "cluster.local"
	requestTimeout       = 5 * time.Second
)

// Option configures a Registry or a Resolver; options that concern only one
// of them are ignored by the other.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	podNamespace, podName string
	gate                  string
	drainTimeout          time.Duration
	drainDelay            time.Duration
	managedNamespace      string
	managedService        string
	portName              string
	ttl                   time.Duration
	resync                time.Duration
	clusterDomain         string
	defaultNamespace      string
	servingTerminating    bool
	family                discoveryv1.AddressType // "": both, one instance per pod
	namespaceInformer     bool                    // one informer per namespace, not per Service
	errs                  []error                 // invalid options, reported by Register
	core                  []discoverycore.Option
}

func newConfig(opts []Option) config {
	c := config{gate: DefaultReadinessGate, drainTimeout: DefaultDrainTimeout, drainDelay: DefaultDrainDelay, ttl: DefaultTTL,
		resync: DefaultResync, clusterDomain: DefaultClusterDomain, defaultNamespace: "default"}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// WithPod names the pod the registry runs in. Without it the registry reads
// POD_NAMESPACE and POD_NAME, which the downward API sets:
//
//	env:
//	- name: POD_NAME
//	  valueFrom: {fieldRef: {fieldPath: metadata.name}}
//	- name: POD_NAMESPACE
//	  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
func WithPod(namespace, name string) Option {
	return optionFunc(func(c *config) { c.podNamespace, c.podName = namespace, name })
}

// WithReadinessGate sets the pod condition type the registry flips
// (default [DefaultReadinessGate]).
func WithReadinessGate(conditionType string) Option {
	return optionFunc(func(c *config) {
		if conditionType != "" {
			c.gate = conditionType
		}
	})
}

// WithDrainTimeout bounds Deregister's wait for the endpoint to leave the
// ready set (default [DefaultDrainTimeout]).
func WithDrainTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.drainTimeout = d
		}
	})
}

// WithDrainDelay sets how long Deregister waits after the API shows the
// endpoint gone from the ready set (default [DefaultDrainDelay]); 0
// returns at once.
func WithDrainDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.drainDelay = max(d, 0) })
}

// WithManagedEndpointSlice registers a process that does not run in a pod
// (a VM, a laptop) as an endpoint of the selector-less Service service in
// namespace: the registry writes an EndpointSlice of its own and renews it
// every third of the TTL, so a crashed process disappears.
func WithManagedEndpointSlice(namespace, service string) Option {
	return optionFunc(func(c *config) { c.managedNamespace, c.managedService = namespace, service })
}

// WithPortName names the port of a managed EndpointSlice (default
// unnamed), matching the Service port's name.
func WithPortName(name string) Option {
	return optionFunc(func(c *config) { c.portName = name })
}

// WithAddressFamily makes the resolver read only the EndpointSlices of one
// address family (discoveryv1.AddressTypeIPv4 or AddressTypeIPv6). By
// default it reads both and lists each pod of a dual-stack Service once,
// at its IPv4 address (endpoints that name no pod are told apart by
// address).
func WithAddressFamily(f discoveryv1.AddressType) Option {
	return optionFunc(func(c *config) { c.family = f })
}

// WithNamespaceInformer makes the resolver follow each namespace with one
// informer of all its EndpointSlices, shared by every target there,
// instead of one informer per target Service (the default, whose list and
// watch select the Service's slices by label). The shared informer holds
// every slice of the namespace — the README's informer-scope benchmark
// measures the cost — and pays off only for a client that resolves most
// Services of a large namespace: one watch instead of one per target.
func WithNamespaceInformer() Option {
	return optionFunc(func(c *config) { c.namespaceInformer = true })
}

// MinTTL is the shortest lease WithTTL accepts: the registry renews a
// managed EndpointSlice every third of it, each renewal an API write.
const MinTTL = 3 * time.Second

// WithTTL sets the lease of a managed EndpointSlice (default [DefaultTTL]).
// A lease below [MinTTL] is not raised silently: Register fails with
// [ErrInvalidConfig].
func WithTTL(ttl time.Duration) Option {
	return optionFunc(func(c *config) {
		if ttl < MinTTL {
			c.errs = append(c.errs, fmt.Errorf("%w: WithTTL(%v) is below the minimum %v", ErrInvalidConfig, ttl, MinTTL))
			return
		}
		c.ttl = ttl
	})
}

// WithResync sets the informers' resync period (default [DefaultResync]).
func WithResync(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.resync = d
		}
	})
}

// WithClusterDomain sets the cluster domain accepted at the end of targets
// (default [DefaultClusterDomain]).
func WithClusterDomain(domain string) Option {
	return optionFunc(func(c *config) { c.clusterDomain = domain })
}

// WithDefaultNamespace sets the namespace of targets that name none
// (default "default").
func WithDefaultNamespace(ns string) Option {
	return optionFunc(func(c *config) {
		if ns != "" {
			c.defaultNamespace = ns
		}
	})
}

// WithServingTerminating lets the resolver fall back to endpoints that are
// terminating but still serving when a service has no ready endpoint, as
// the EndpointSlice API suggests for graceful termination. By default
// terminating endpoints get no new calls.
func WithServingTerminating() Option {
	return optionFunc(func(c *config) { c.servingTerminating = true })
}

// WithDiscoveryOptions passes options to the shared discovery core
// (idle timeout, retry backoff, self-metrics MeterProvider, target naming).
func WithDiscoveryOptions(opts ...discoverycore.Option) Option {
	return optionFunc(func(c *config) { c.core = append(c.core, opts...) })
}
