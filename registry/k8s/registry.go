package k8s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kitexsuite/suite/discoverycore"
)

var (
	// ErrNotInPod is returned by Register when the registry knows neither
	// its pod (WithPod, POD_NAMESPACE/POD_NAME) nor a managed EndpointSlice.
	ErrNotInPod = errors.New("kitexsuite/k8s: no pod to register: set POD_NAMESPACE and POD_NAME through the downward API, or use WithPod or WithManagedEndpointSlice")
	// ErrInvalidInfo is returned (wrapped) for registry.Info the registry
	// cannot publish.
	ErrInvalidInfo = errors.New("kitexsuite/k8s: invalid registry info")
	// ErrInvalidConfig is returned (wrapped) by Register when an option was
	// given a value the registry cannot use (see WithTTL).
	ErrInvalidConfig = errors.New("kitexsuite/k8s: invalid registry option")
)

// Registry is a Kitex registry.Registry (for server.WithRegistry). In a
// pod it flips a readiness gate: True on Register, False on Deregister,
// then waits until the pod's endpoint has left the ready set before Kitex
// closes the listener. With WithManagedEndpointSlice it publishes a
// process outside any pod in an EndpointSlice it renews.
type Registry struct {
	cs  kubernetes.Interface
	cfg config

	mu      sync.Mutex
	managed map[string]*managedSlice // by slice name
	gate    *discoverycore.Keeper    // the pod's gate, while registered
}

var _ registry.Registry = (*Registry)(nil)

// NewRegistry returns a registry acting through cs. In a pod it needs get
// and patch on its own pod's status and list/watch on endpointslices in
// its namespace (rbac/server.yaml).
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewRegistry(cs kubernetes.Interface, opts ...Option) *Registry {
	if isNil(cs) {
		panic("kitexsuite/registry/k8s: NewRegistry needs a kubernetes.Interface, got nil")
	}
	cfg := newConfig(opts)
	if cfg.podNamespace == "" && cfg.podName == "" {
		cfg.podNamespace, cfg.podName = os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME")
	}
	return &Registry{cs: cs, cfg: cfg, managed: map[string]*managedSlice{}}
}

// Register implements registry.Registry, through discoverycore.Keep, the
// failure policy all three registries share: an RBAC refusal is returned
// (a *PermissionError wrapping discoverycore.ErrPermanent) and nothing is
// retried; any other failure — an API server restarting or throttling — is
// logged once and retried in the background, so the server starts and
// serves through an API outage instead of failing Kitex's Run.
func (r *Registry) Register(info *registry.Info) error {
	if err := errors.Join(r.cfg.errs...); err != nil {
		return err
	}
	if info == nil || info.Addr == nil {
		return fmt.Errorf("%w: need an address", ErrInvalidInfo)
	}
	if r.cfg.managedService != "" {
		return r.registerManaged(info)
	}
	if r.cfg.podName == "" || r.cfg.podNamespace == "" {
		return ErrNotInPod
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate != nil {
		return fmt.Errorf("%w: pod %s/%s is already registered", ErrInvalidInfo, r.cfg.podNamespace, r.cfg.podName)
	}
	name := r.cfg.podNamespace + "/" + r.cfg.podName
	k, err := discoverycore.Keep(discoverycore.KeepConfig{
		System: "kubernetes", Service: info.ServiceName, Name: "pod " + name, Stable: r.cfg.ttl, Options: r.cfg.core,
	}, func(ctx context.Context) (func() error, error) {
		if err := r.setGate(corev1.ConditionTrue, "Registered", "kitexsuite registry: serving"); err != nil {
			return nil, permanentIfForbidden(err)
		}
		// The condition stays in the pod's status: nothing to renew.
		return func() error { <-ctx.Done(); return nil }, nil
	})
	if err != nil {
		return err
	}
	r.gate = k
	return nil
}

// permanentIfForbidden marks RBAC refusals permanent: no retry grants a
// missing permission.
func permanentIfForbidden(err error) error {
	var pe *PermissionError
	if errors.As(err, &pe) {
		return discoverycore.Permanent(err)
	}
	return err
}

// setGateRetrying retries setGate with backoff until it succeeds, RBAC
// refuses it, or ctx ends: one failed PATCH (an API server restarting)
// must not skip the drain.
func (r *Registry) setGateRetrying(ctx context.Context, status corev1.ConditionStatus, reason, message string) error {
	bo := discoverycore.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	for {
		err := r.setGate(status, reason, message)
		var pe *PermissionError
		if err == nil || errors.As(err, &pe) {
			return err
		}
		if !discoverycore.Sleep(ctx, bo.Next()) {
			return err
		}
	}
}

// Deregister implements registry.Registry. In a pod: the gate goes False,
// then Deregister waits (at most the drain timeout) until no EndpointSlice
// lists the pod as ready, and then the drain delay, so clients have
// stopped picking it. A managed slice is deleted, then the drain delay.
func (r *Registry) Deregister(info *registry.Info) error {
	if r.cfg.managedService != "" {
		return r.deregisterManaged(info)
	}
	if r.cfg.podName == "" || r.cfg.podNamespace == "" {
		return ErrNotInPod
	}
	r.mu.Lock()
	gate := r.gate
	r.gate = nil
	r.mu.Unlock()
	if gate == nil {
		return fmt.Errorf("%w: pod %s/%s is not registered", ErrInvalidInfo, r.cfg.podNamespace, r.cfg.podName)
	}
	gate.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.drainTimeout)
	defer cancel()
	if err := r.setGateRetrying(ctx, corev1.ConditionFalse, "Draining", "kitexsuite registry: draining before shutdown"); err != nil {
		return err
	}
	if err := r.awaitNotReady(ctx); err != nil {
		klog.Warnf("kitexsuite/k8s: pod %s/%s: stopping without seeing its endpoint leave the ready set: %v", r.cfg.podNamespace, r.cfg.podName, err)
	}
	r.drain()
	return nil
}

// drain gives clients that watch the same slices time to apply the change.
func (r *Registry) drain() {
	if r.cfg.drainDelay > 0 {
		time.Sleep(r.cfg.drainDelay) // a deliberate grace period, not synchronisation
	}
}

// setGate sets the readiness gate condition on the pod's status.
func (r *Registry) setGate(status corev1.ConditionStatus, reason, message string) error {
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{{
		Type: corev1.PodConditionType(r.cfg.gate), Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.Now(),
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, err := r.cs.CoreV1().Pods(r.cfg.podNamespace).Patch(ctx, r.cfg.podName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsForbidden(err) {
		return &PermissionError{Rule: fmt.Sprintf("patch on pods/status for pod %q in namespace %q", r.cfg.podName, r.cfg.podNamespace), Err: err}
	}
	if err != nil {
		return fmt.Errorf("kitexsuite/k8s: set %s=%s on pod %s/%s: %w", r.cfg.gate, status, r.cfg.podNamespace, r.cfg.podName, err)
	}
	return nil
}

// awaitNotReady watches the namespace's EndpointSlices until none lists
// the pod as a ready endpoint.
func (r *Registry) awaitNotReady(ctx context.Context) error {
	slices := r.cs.DiscoveryV1().EndpointSlices(r.cfg.podNamespace)
	list, err := slices.List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName})
	if err != nil {
		return err
	}
	readyIn := map[string]bool{}
	for i := range list.Items {
		readyIn[list.Items[i].Name] = r.listsPodReady(&list.Items[i])
	}
	if !anyTrue(readyIn) {
		return nil
	}
	w, err := slices.Watch(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return errors.New("watch closed")
			}
			es, isSlice := ev.Object.(*discoveryv1.EndpointSlice)
			if !isSlice {
				continue
			}
			readyIn[es.Name] = ev.Type != watch.Deleted && r.listsPodReady(es)
			if !anyTrue(readyIn) {
				return nil
			}
		}
	}
}

func (r *Registry) listsPodReady(es *discoveryv1.EndpointSlice) bool {
	for _, ep := range es.Endpoints {
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && ep.TargetRef.Name == r.cfg.podName {
			if ready, _ := callable(ep.Conditions); ready { // what resolvers call
				return true
			}
		}
	}
	return false
}

func anyTrue(m map[string]bool) bool {
	for _, v := range m {
		if v {
			return true
		}
	}
	return false
}

// managedSlice is the EndpointSlice a process outside pods keeps alive.
type managedSlice struct {
	name   string
	keeper *discoverycore.Keeper
}

// sliceFor builds the managed EndpointSlice of info.
func (r *Registry) sliceFor(info *registry.Info) (*discoveryv1.EndpointSlice, error) {
	host, portStr, err := net.SplitHostPort(info.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInfo, err)
	}
	ip := net.ParseIP(host)
	port, perr := strconv.Atoi(portStr)
	if ip == nil || ip.IsUnspecified() || ip.IsLoopback() || perr != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%w: address %q: an EndpointSlice needs a routable IP and a port (set registry.Info.Addr with SkipListenAddr)", ErrInvalidInfo, info.Addr)
	}
	addrType := discoveryv1.AddressTypeIPv4
	if ip.To4() == nil {
		addrType = discoveryv1.AddressTypeIPv6
	}
	sum := sha256.Sum256([]byte(info.Addr.String()))
	name := r.cfg.managedService + "-kitexsuite-" + hex.EncodeToString(sum[:5])
	ready, p, portName := true, int32(port), r.cfg.portName
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.cfg.managedNamespace,
			Labels:      map[string]string{discoveryv1.LabelServiceName: r.cfg.managedService, discoveryv1.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{RenewAnnotation: time.Now().UTC().Format(time.RFC3339Nano), TTLAnnotation: r.cfg.ttl.String()}},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &p}},
	}
	if info.Weight > 0 {
		es.Annotations[WeightAnnotation] = strconv.Itoa(info.Weight)
	}
	return es, nil
}

func (r *Registry) registerManaged(info *registry.Info) error {
	es, err := r.sliceFor(info)
	if err != nil {
		return err
	}
	ms := &managedSlice{name: es.Name}
	r.mu.Lock()
	if _, dup := r.managed[es.Name]; dup {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s is already registered", ErrInvalidInfo, info.Addr)
	}
	r.managed[es.Name] = ms
	r.mu.Unlock()
	ms.keeper, err = discoverycore.Keep(discoverycore.KeepConfig{
		System: "kubernetes", Service: info.ServiceName, Name: "EndpointSlice " + es.Namespace + "/" + es.Name, Stable: r.cfg.ttl, Options: r.cfg.core,
	}, func(ctx context.Context) (func() error, error) {
		if err := r.writeSlice(ctx, info); err != nil {
			return nil, permanentIfForbidden(err)
		}
		return func() error { return r.renew(ctx, info) }, nil
	})
	if err != nil {
		r.mu.Lock()
		delete(r.managed, es.Name)
		r.mu.Unlock()
		return err
	}
	return nil
}

// writeSlice creates or replaces the managed slice with a fresh renew time.
func (r *Registry) writeSlice(ctx context.Context, info *registry.Info) error {
	es, err := r.sliceFor(info)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	slices := r.cs.DiscoveryV1().EndpointSlices(es.Namespace)
	cur, err := slices.Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		es.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, es, metav1.UpdateOptions{})
	}
	if apierrors.IsForbidden(err) {
		return &PermissionError{Rule: fmt.Sprintf("get, create, update and delete on endpointslices (apiGroup discovery.k8s.io) in namespace %q", es.Namespace), Err: err}
	}
	return err
}

// renew rewrites the slice every third of the TTL — recreating it if it
// was deleted — until a rewrite fails (returning why; Keep writes it
// again with backoff) or ctx ends.
func (r *Registry) renew(ctx context.Context, info *registry.Info) error {
	for discoverycore.Sleep(ctx, r.cfg.ttl/3) {
		if err := r.writeSlice(ctx, info); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("renewal failed: %w", err)
		}
	}
	return nil
}

func (r *Registry) deregisterManaged(info *registry.Info) error {
	es, err := r.sliceFor(info)
	if err != nil {
		return err
	}
	r.mu.Lock()
	ms := r.managed[es.Name]
	delete(r.managed, es.Name)
	r.mu.Unlock()
	if ms == nil {
		return fmt.Errorf("%w: %s is not registered", ErrInvalidInfo, info.Addr)
	}
	ms.keeper.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	err = r.cs.DiscoveryV1().EndpointSlices(es.Namespace).Delete(ctx, es.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kitexsuite/k8s: delete EndpointSlice %s/%s: %w", es.Namespace, es.Name, err)
	}
	r.drain()
	return nil
}

// isNil reports whether cs is nil, or a nil pointer in the interface (a
// (*kubernetes.Clientset)(nil) from an ignored error).
func isNil(cs kubernetes.Interface) bool {
	if cs == nil {
		return true
	}
	v := reflect.ValueOf(cs)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
