package k8s

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kitexsuite/suite/discoverycore"
)

const serviceIndex = "kitexsuite/service-name"

// NewResolver returns a Kitex resolver (for client.WithResolver) for
// targets "name.namespace:port". Each namespace is followed by one shared
// EndpointSlice informer (discovery.k8s.io/v1, slices labelled
// kubernetes.io/service-name) and Resolve reads the shared in-memory
// snapshot merged from all of a service's slices. cs comes from
// rest.InClusterConfig in a pod or from a kubeconfig elsewhere; it needs
// get, list and watch on endpointslices in discovery.k8s.io in the target
// namespaces (rbac/client.yaml). Close the resolver at shutdown.
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewResolver(cs kubernetes.Interface, opts ...Option) *discoverycore.Resolver {
	if isNil(cs) {
		panic("kitexsuite/registry/k8s: NewResolver needs a kubernetes.Interface, got nil")
	}
	cfg := newConfig(opts)
	src := &source{cs: cs, cfg: cfg, namespaces: map[string]*nsInformer{}}
	src.name = fmt.Sprintf("kitexsuite-k8s(domain=%s;ns=%s;terminating=%t;%p)", cfg.clusterDomain, cfg.defaultNamespace, cfg.servingTerminating, cs)
	core := append([]discoverycore.Option{discoverycore.WithSystem("kubernetes")}, cfg.core...)
	return discoverycore.NewResolver(src, core...)
}

// PermissionError is a request the API server's RBAC refused, naming the
// rule the credentials lack.
type PermissionError struct {
	Rule string
	Err  error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("kitexsuite/k8s: RBAC denied: the credentials need %s: %v", e.Rule, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

type source struct {
	cs   kubernetes.Interface
	cfg  config
	name string

	mu         sync.Mutex
	namespaces map[string]*nsInformer
	logged     discoverycore.LogOnce // bad endpoint key -> slice resource version logged
}

// nsInformer is one namespace's shared EndpointSlice informer, running
// while any target in the namespace is watched.
type nsInformer struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
	done     chan struct{}
	refs     int

	mu  sync.Mutex
	err error // the last list/watch error since the last sync
}

func (n *nsInformer) lastErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

func (s *source) Name() string { return s.name }

// acquire returns the namespace's informer, starting it for the first user.
func (s *source) acquire(ns string) (*nsInformer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.namespaces[ns]; n != nil {
		n.refs++
		return n, nil
	}
	factory := informers.NewSharedInformerFactoryWithOptions(s.cs, s.cfg.resync, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName }))
	inf := factory.Discovery().V1().EndpointSlices().Informer()
	if err := inf.AddIndexers(cache.Indexers{serviceIndex: func(obj any) ([]string, error) {
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
			return []string{es.Labels[discoveryv1.LabelServiceName]}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	n := &nsInformer{informer: inf, stop: make(chan struct{}), done: make(chan struct{}), refs: 1}
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
	})
	// A real event (not a resync) proves the watch works again.
	healthy := func() {
		n.mu.Lock()
		n.err = nil
		n.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { healthy() },
		UpdateFunc: func(old, obj any) {
			if o, ok := old.(*discoveryv1.EndpointSlice); ok {
				if es, ok := obj.(*discoveryv1.EndpointSlice); ok && o.ResourceVersion != es.ResourceVersion {
					healthy()
				}
			}
		},
		DeleteFunc: func(any) { healthy() },
	}); err != nil {
		return nil, err
	}
	go func() {
		defer close(n.done)
		inf.Run(n.stop)
	}()
	s.namespaces[ns] = n
	return n, nil
}

// release stops the namespace's informer after its last user.
func (s *source) release(ns string, n *nsInformer) {
	s.mu.Lock()
	n.refs--
	last := n.refs == 0
	if last {
		delete(s.namespaces, ns)
	}
	s.mu.Unlock()
	if last {
		close(n.stop)
		<-n.done
	}
}

// Watch implements discoverycore.Source.
func (s *source) Watch(ctx context.Context, name string, sink discoverycore.Sink) error {
	t, err := parseTarget(name, s.cfg)
	if err != nil {
		return err
	}
	n, err := s.acquire(t.namespace)
	if err != nil {
		return err
	}
	defer s.release(t.namespace, n)

	changed := make(chan struct{}, 1)
	poke := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok && es.Labels[discoveryv1.LabelServiceName] == t.name {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	reg, err := n.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, obj any) { poke(obj) }, DeleteFunc: poke,
	})
	if err != nil {
		return err
	}
	defer func() { _ = n.informer.RemoveEventHandler(reg) }()

	// client-go offers no sync event, only HasSynced; poll it, and fail
	// fast with the reason when listing is refused.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !n.informer.HasSynced() {
		if err := n.lastErr(); err != nil {
			return s.explain(err, t.namespace)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	cache := sliceCache{}
	for {
		objs, err := n.informer.GetIndexer().ByIndex(serviceIndex, t.name)
		if err != nil {
			return err
		}
		// A managed slice whose process crashed changes no object when its
		// lease runs out: look again when the earliest lease does — unless
		// the watch is broken, when no renewal can arrive and the leases
		// say nothing (the last known set keeps serving).
		now := time.Now()
		if n.lastErr() != nil {
			now = time.Time{}
		}
		set, err := s.mergeAt(t, objs, cache, now)
		if err != nil {
			return err // a target no port of the service matches: say so
		}
		sink.Set(set)
		if now.IsZero() {
			expiry.Reset(time.Second) // look again once the watch may be back
		} else {
			expiry.Reset(nextExpiry(objs, now))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-expiry.C:
		}
	}
}

// nextExpiry is how long until the earliest managed slice of objs expires
// (an hour when none will).
func nextExpiry(objs []any, now time.Time) time.Duration {
	next := time.Hour
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		end, managed, valid := leaseEnd(es)
		if !managed || !valid {
			continue
		}
		if d := end.Sub(now) + time.Millisecond; d > 0 && d < next {
			next = d
		}
	}
	return next
}

// explain names the RBAC rule a refused list or watch needed.
func (s *source) explain(err error, ns string) error {
	if apierrors.IsForbidden(err) {
		return &PermissionError{Rule: fmt.Sprintf("get, list and watch on endpointslices (apiGroup discovery.k8s.io) in namespace %q", ns), Err: err}
	}
	return err
}

// sliceCache keeps, per slice, the instances decoded from its current
// version, so a change to one slice of a large service decodes only that
// slice again.
type sliceCache map[string]*decodedSlice

type decodedSlice struct {
	version string
	ready   []discovery.Instance
	serving []discovery.Instance // terminating but serving
	// family is the slice's address type; pods lists, per ready instance,
	// the pod it is (namespace/name, "" when the endpoint names none), so
	// a dual-stack Service's pods are listed once.
	family discoveryv1.AddressType
	pods   []string
	// ports are the slice's ports ("8080", or "8080 (http)"), and
	// portMissing says none matched the target's: for the TargetError.
	ports       []string
	portMissing bool
}

// mergeAt merges every slice of the service into one set: ready
// endpoints (or, with WithServingTerminating and none ready, serving
// terminating ones) on the target's port, one per address, decoding only
// slices cache lacks. Managed slices' leases are judged at now; the zero
// time judges none expired (the informer's watch is broken, so stale
// renewals say nothing about the processes).
func (s *source) mergeAt(t target, objs []any, cache sliceCache, now time.Time) ([]discovery.Instance, error) {
	live := make(map[string]bool, len(objs))
	var decoded []*decodedSlice
	total, matched := 0, 0
	var missing *decodedSlice
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || (es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6) || (!now.IsZero() && expired(es, now)) {
			continue
		}
		if s.cfg.family != "" && es.AddressType != s.cfg.family {
			continue
		}
		key := es.Namespace + "/" + es.Name
		live[key] = true
		d := cache[key]
		if d == nil || d.version != es.ResourceVersion || es.ResourceVersion == "" {
			d = s.decodeSlice(t, es)
			cache[key] = d
		}
		if d.portMissing {
			missing = d
			continue
		}
		if len(d.ports) > 0 {
			matched++
		}
		decoded = append(decoded, d)
		total += len(d.ready)
	}
	for key := range cache {
		if !live[key] {
			delete(cache, key)
		}
	}
	if matched == 0 && missing != nil {
		// Every slice with ports lacks the one asked for: not an empty
		// service but a target that cannot match (a Service port whose
		// targetPort differs, or no port named on a multi-port Service).
		return nil, portError(t, missing.ports)
	}
	// A dual-stack Service has a slice per family listing the same pods:
	// one instance per pod, IPv4 first unless WithAddressFamily chose.
	slices.SortStableFunc(decoded, func(a, b *decodedSlice) int { return familyRank(a.family) - familyRank(b.family) })
	ready := make([]discovery.Instance, 0, total)
	seen := make(map[string]bool, total)
	pods := make(map[string]bool, total)
	var fallback []discovery.Instance
	for _, d := range decoded {
		for i, ins := range d.ready {
			addr := ins.Address().String()
			if seen[addr] || (d.pods[i] != "" && pods[d.pods[i]]) { // moved between slices, or the pod's other family
				continue
			}
			seen[addr] = true
			if d.pods[i] != "" {
				pods[d.pods[i]] = true
			}
			ready = append(ready, ins)
		}
		fallback = append(fallback, d.serving...)
	}
	if len(ready) == 0 && len(fallback) > 1 {
		fallback = slices.CompactFunc(slices.SortedFunc(slices.Values(fallback), byAddr), sameAddr)
	}
	if len(ready) == 0 && s.cfg.servingTerminating && len(fallback) > 0 {
		return fallback, nil
	}
	return ready, nil
}

func familyRank(f discoveryv1.AddressType) int {
	if f == discoveryv1.AddressTypeIPv4 {
		return 0
	}
	return 1
}

// portError is the TargetError of a target whose port no slice has.
func portError(t target, have []string) error {
	list := strings.Join(have, ", ")
	if t.port == "" {
		return &TargetError{Target: t.String(), Reason: fmt.Sprintf("the Service has several ports (%s): name one, by endpoint port number or by port name", list)}
	}
	return &TargetError{Target: t.String(), Reason: fmt.Sprintf("no endpoint port %q (the Service's endpoints have %s); a target names the endpoint port (the Service's targetPort) or the port's name, not the Service port", t.port, list)}
}

func byAddr(a, b discovery.Instance) int {
	return strings.Compare(a.Address().String(), b.Address().String())
}

func sameAddr(a, b discovery.Instance) bool { return a.Address().String() == b.Address().String() }

// decodeSlice turns one slice version into instances on the target's port.
func (s *source) decodeSlice(t target, es *discoveryv1.EndpointSlice) *decodedSlice {
	d := &decodedSlice{version: es.ResourceVersion, family: es.AddressType}
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		desc := strconv.Itoa(int(*p.Port))
		if p.Name != nil && *p.Name != "" {
			desc += " (" + *p.Name + ")"
		}
		d.ports = append(d.ports, desc)
	}
	port, ok := slicePort(es, t.port)
	if !ok {
		d.portMissing = len(d.ports) > 0
		return d
	}
	weight := sliceWeight(es)
	for i := range es.Endpoints {
		ep := &es.Endpoints[i]
		c := ep.Conditions
		isReady := c.Ready == nil || *c.Ready
		terminating := c.Terminating != nil && *c.Terminating
		serving := isReady
		if c.Serving != nil {
			serving = *c.Serving
		}
		if !(isReady && !terminating) && !(s.cfg.servingTerminating && serving) {
			continue // decode only what can be served
		}
		ins, err := endpointInstance(ep, port, weight)
		if err != nil {
			s.logOnce(es, i, err)
			continue
		}
		if isReady && !terminating {
			d.ready = append(d.ready, ins)
			pod := ""
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				pod = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
			}
			d.pods = append(d.pods, pod)
		} else {
			d.serving = append(d.serving, ins)
		}
	}
	return d
}

// slicePort finds the target's port: by number (the endpoint port) or by
// name; with no port asked, the slice's only port.
func slicePort(es *discoveryv1.EndpointSlice, want string) (int32, bool) {
	n, numeric := strconv.Atoi(want)
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		switch {
		case want == "" && len(es.Ports) == 1,
			numeric == nil && int(*p.Port) == n,
			numeric != nil && want == name:
			return *p.Port, true
		}
	}
	return 0, false
}

func sliceWeight(es *discoveryv1.EndpointSlice) int {
	if v, ok := es.Annotations[WeightAnnotation]; ok {
		if w, err := strconv.Atoi(v); err == nil && w >= 1 {
			return w
		}
		klog.Warnf("kitexsuite/k8s: EndpointSlice %s/%s: ignoring %s=%q (want an integer ≥ 1)", es.Namespace, es.Name, WeightAnnotation, v)
	}
	return discovery.DefaultWeight
}

// expired reports a managed slice whose process stopped renewing it.
func expired(es *discoveryv1.EndpointSlice, now time.Time) bool {
	end, managed, ok := leaseEnd(es)
	return managed && (!ok || now.After(end))
}

// leaseEnd reads a managed slice's lease: when it runs out, whether the
// slice is managed (has a renew time) and whether its annotations parse.
func leaseEnd(es *discoveryv1.EndpointSlice) (end time.Time, managed, ok bool) {
	renew, managed := es.Annotations[RenewAnnotation]
	if !managed {
		return time.Time{}, false, false
	}
	at, err1 := time.Parse(time.RFC3339Nano, renew)
	ttl, err2 := time.ParseDuration(es.Annotations[TTLAnnotation])
	return at.Add(ttl), true, err1 == nil && err2 == nil
}

func endpointInstance(ep *discoveryv1.Endpoint, port int32, weight int) (*discoverycore.Instance, error) {
	if len(ep.Addresses) == 0 {
		return nil, errors.New("endpoint without addresses")
	}
	ip := net.ParseIP(ep.Addresses[0]) // the API: consumers use the first address
	if ip == nil {
		return nil, fmt.Errorf("bad address %q", ep.Addresses[0])
	}
	tags := map[string]string{}
	if ep.Zone != nil {
		tags["zone"] = *ep.Zone
	}
	if ep.NodeName != nil {
		tags["node"] = *ep.NodeName
	}
	if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
		tags["pod"] = ep.TargetRef.Name
	}
	return discoverycore.NewInstance("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))), weight, tags, time.Time{}, 0), nil
}

func (s *source) logOnce(es *discoveryv1.EndpointSlice, i int, err error) {
	key := es.Namespace + "/" + es.Name + "#" + strconv.Itoa(i)
	if s.logged.First(key, es.ResourceVersion) {
		klog.Warnf("kitexsuite/k8s: skipping endpoint %d of EndpointSlice %s/%s: %v", i, es.Namespace, es.Name, err)
	}
}
