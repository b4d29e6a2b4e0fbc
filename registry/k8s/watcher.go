package k8s

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kitexsuite/suite/discoverycore"
)

const serviceIndex = "kitexsuite/service-name"

// NewResolver returns a Kitex resolver (for client.WithResolver) for
// targets "name.namespace:port". Each target Service is followed by an
// EndpointSlice informer (discovery.k8s.io/v1) whose list and watch select
// only that Service's slices (label kubernetes.io/service-name=name; one
// per namespace with [WithNamespaceInformer]), and Resolve reads the
// in-memory snapshot merged from all of the service's slices. cs comes from
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
	src := &source{cs: cs, cfg: cfg, informers: map[string]*nsInformer{}}
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

	mu        sync.Mutex
	informers map[string]*nsInformer // by informerKey
	logged    discoverycore.LogOnce  // bad endpoint key -> slice resource version logged
}

// nsInformer is the EndpointSlice informer of one Service (or, with
// WithNamespaceInformer, of a whole namespace), running while any target
// it covers is watched.
type nsInformer struct {
	informer cache.SharedIndexInformer
	stop     chan struct{}
	done     chan struct{}
	refs     int

	mu  sync.Mutex
	err error // the last list/watch error since the last sync
}

// answered records the outcome of one of the informer's list or watch
// calls: an error marks the informer broken until a call succeeds.
func (n *nsInformer) answered(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // the informer is stopping
	}
	n.mu.Lock()
	n.err = err
	n.mu.Unlock()
}

func (n *nsInformer) lastErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

func (s *source) Name() string { return s.name }

// informerKey names the informer that covers t, and the label selector
// of its list and watch: the Service's slices, or with
// WithNamespaceInformer every Service's slices in the namespace.
func (s *source) informerKey(t target) (key, selector string) {
	if s.cfg.namespaceInformer {
		return t.namespace, discoveryv1.LabelServiceName
	}
	return t.namespace + "/" + t.name, discoveryv1.LabelServiceName + "=" + t.name
}

// acquire returns the informer that covers t, starting it for the first
// user.
func (s *source) acquire(t target) (*nsInformer, error) {
	key, selector := s.informerKey(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.informers[key]; n != nil {
		n.refs++
		return n, nil
	}
	n := &nsInformer{stop: make(chan struct{}), done: make(chan struct{}), refs: 1}
	// The informer's list and watch go through n, which records what the
	// API server answered: client-go's reflector retries a refused
	// connection or a 429 inside its watch loop without calling the
	// WatchErrorHandler, so only the calls themselves show an outage.
	api := s.cs.DiscoveryV1().EndpointSlices(t.namespace)
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = selector }
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			obj, err := api.List(ctx, o)
			n.answered(ctx, err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			w, err := api.Watch(ctx, o)
			n.answered(ctx, err)
			return w, err
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, s.cs), &discoveryv1.EndpointSlice{},
		cache.SharedIndexInformerOptions{ResyncPeriod: s.cfg.resync, Indexers: cache.Indexers{serviceIndex: func(obj any) ([]string, error) {
			if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
				return []string{es.Labels[discoveryv1.LabelServiceName]}, nil
			}
			return nil, nil
		}}})
	n.informer = inf
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, io.EOF) {
			return // routine: the reflector lists again at once
		}
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
	s.informers[key] = n
	return n, nil
}

// release stops t's informer after its last user.
func (s *source) release(t target, n *nsInformer) {
	key, _ := s.informerKey(t)
	s.mu.Lock()
	n.refs--
	last := n.refs == 0
	if last {
		delete(s.informers, key)
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
	n, err := s.acquire(t)
	if err != nil {
		return err
	}
	defer s.release(t, n)

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
	// Resyncs replay the cache (same resource version): they prove
	// nothing about the API server and change nothing.
	reg, err := n.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, DeleteFunc: poke,
		UpdateFunc: func(old, obj any) {
			if o, ok := old.(*discoveryv1.EndpointSlice); ok {
				if es, ok := obj.(*discoveryv1.EndpointSlice); ok && o.ResourceVersion == es.ResourceVersion {
					return
				}
			}
			poke(obj)
		},
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
	if err := n.lastErr(); err != nil {
		return s.broken(t.namespace, err) // a shared informer that is failing
	}
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	// The API server's answers, not the local cache, say the view is
	// current: every second the informer's last list or watch call
	// succeeded confirms the set; a failed one (refused, throttled, timed
	// out) ends this watch — counted as a restart, the last set serving,
	// no lease judged — until the API server answers again.
	alive := time.NewTicker(time.Second)
	defer alive.Stop()
	cache := sliceCache{}
	seen := leases{}
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
		} else {
			seen.observe(objs, now)
		}
		set, err := s.mergeAt(t, objs, cache, now, seen)
		if err != nil {
			return err // a target no port of the service matches: say so
		}
		sink.Set(set)
		if now.IsZero() {
			expiry.Reset(time.Second) // look again once the watch may be back
		} else {
			expiry.Reset(seen.nextExpiry(objs, now))
		}
	wait:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-expiry.C:
		case <-alive.C:
			if err := n.lastErr(); err != nil {
				return s.broken(t.namespace, err)
			}
			sink.Alive()
			goto wait
		}
	}
}

// broken says why a namespace's informer is not being answered.
func (s *source) broken(ns string, err error) error {
	return fmt.Errorf("the EndpointSlice list/watch of namespace %q is failing: %w", ns, s.explain(err, ns))
}

// leases judges managed EndpointSlices by this client's clock: a slice's
// lease runs from when this client first saw its current renew time, not
// from the renew time itself, which is the writer's clock (skewed, or
// simply old news after this client was cut off).
type leases map[string]observedRenewal // by slice name

type observedRenewal struct {
	renew string    // the RenewAnnotation value seen
	at    time.Time // when this client first saw it
}

// observe records, at now, the renew times of objs not seen before, and
// forgets slices that are gone.
func (l leases) observe(objs []any, now time.Time) {
	present := make(map[string]bool, len(objs))
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		renew, managed := es.Annotations[RenewAnnotation]
		if !managed {
			continue
		}
		present[es.Name] = true
		if l[es.Name].renew != renew {
			l[es.Name] = observedRenewal{renew: renew, at: now}
		}
	}
	for name := range l {
		if !present[name] {
			delete(l, name)
		}
	}
}

// end is when es's lease runs out by this client's clock, whether es is
// managed, and whether its annotations parse.
func (l leases) end(es *discoveryv1.EndpointSlice) (end time.Time, managed, ok bool) {
	renew, managed := es.Annotations[RenewAnnotation]
	if !managed {
		return time.Time{}, false, false
	}
	_, err1 := time.Parse(time.RFC3339Nano, renew)
	ttl, err2 := time.ParseDuration(es.Annotations[TTLAnnotation])
	seen, known := l[es.Name]
	if !known || seen.renew != renew {
		return time.Time{}, true, false
	}
	return seen.at.Add(ttl), true, err1 == nil && err2 == nil
}

// expired reports a managed slice whose process stopped renewing it.
func (l leases) expired(es *discoveryv1.EndpointSlice, now time.Time) bool {
	end, managed, ok := l.end(es)
	return managed && (!ok || now.After(end))
}

// nextExpiry is how long until the earliest managed slice of objs expires
// (an hour when none will).
func (l leases) nextExpiry(objs []any, now time.Time) time.Duration {
	next := time.Hour
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		end, managed, valid := l.end(es)
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
func (s *source) mergeAt(t target, objs []any, cache sliceCache, now time.Time, observed leases) ([]discovery.Instance, error) {
	live := make(map[string]bool, len(objs))
	var decoded []*decodedSlice
	total, matched := 0, 0
	var missing *decodedSlice
	for _, obj := range objs {
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || (es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6) || (!now.IsZero() && observed.expired(es, now)) {
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
	ports := slices.Clone(es.Ports) // listed in order of number: the API keeps no order
	slices.SortFunc(ports, func(a, b discoveryv1.EndpointPort) int { return cmp.Compare(portNumber(a), portNumber(b)) })
	for _, p := range ports {
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
		isReady, serving := callable(ep.Conditions)
		if !isReady && !(s.cfg.servingTerminating && serving) {
			continue // decode only what can be served
		}
		ins, err := endpointInstance(ep, port, weight)
		if err != nil {
			s.logOnce(es, i, err)
			continue
		}
		if isReady {
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

// portNumber is p's number, 0 when it has none.
func portNumber(p discoveryv1.EndpointPort) int32 {
	if p.Port == nil {
		return 0
	}
	return *p.Port
}

// callable reads an endpoint's conditions: ready is whether it takes new
// calls, serving whether it still could (the pod is ready; it may be
// terminating). The EndpointSlice controller reports ready true for
// every endpoint of a Service with publishNotReadyAddresses, whatever its
// pod's readiness, so ready here also needs serving, which keeps the
// pod's: a pod that fails readiness or drains (its gate False) gets no
// calls on such a Service either, and its drain can finish.
func callable(c discoveryv1.EndpointConditions) (ready, serving bool) {
	ready = c.Ready == nil || *c.Ready
	serving = ready
	if c.Serving != nil {
		serving = *c.Serving
	}
	terminating := c.Terminating != nil && *c.Terminating
	return ready && serving && !terminating, serving
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
