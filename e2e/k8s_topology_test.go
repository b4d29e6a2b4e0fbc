package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/registry/k8s"
)

// The Kubernetes topologies of production clusters that the single-family,
// one-port echo Service does not show: dual-stack Services, a Service port
// that is not the pod's port, publishNotReadyAddresses and API Priority
// and Fairness throttling.

// dualPod is a pod of a dual-stack Service: a real Kitex server on its
// IPv4 address and another on its IPv6 address, so that a test can tell
// which family each call took.
type dualPod struct {
	name       string
	v4, v6     string
	srv4, srv6 *countedServer
}

const dualTargetPort = 8888

// TestK8sDualStackAndPortMapping runs a RequireDualStack Service whose port
// 80 maps to the pods' named port "rpc" (8888), plus a second port, through
// the real EndpointSlice controller (one slice per family). Each pod is one
// instance, at its IPv4 address by default and at its IPv6 address with
// WithAddressFamily(IPv6), and the calls of each client take only its
// family; the Service port and a port-less target are TargetErrors naming
// the ports there are; a pod removed under load costs no call.
func TestK8sDualStackAndPortMapping(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	policy := corev1.IPFamilyPolicyRequireDualStack
	if _, err := c.cs.CoreV1().Services(c.ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dual"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "dual"}, IPFamilyPolicy: &policy, Ports: []corev1.ServicePort{
			{Name: "rpc", Port: 80, TargetPort: intstr.FromString("rpc")},
			{Name: "admin", Port: 81, TargetPort: intstr.FromInt32(9090)},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := make([]*dualPod, 3)
	for i := range pods {
		pods[i] = c.startDualPod(t, fmt.Sprintf("dual-%d", i))
	}
	addrsOf := func(ps []*dualPod, v6 bool) []string {
		var out []string
		for _, p := range ps {
			out = append(out, net.JoinHostPort(map[bool]string{false: p.v4, true: p.v6}[v6], fmt.Sprint(dualTargetPort)))
		}
		return out
	}

	r4 := k8s.NewResolver(c.cs)
	defer r4.Close()
	r6 := k8s.NewResolver(c.cs, k8s.WithAddressFamily(discoveryv1.AddressTypeIPv6))
	defer r6.Close()
	target := "dual." + c.ns + ":rpc"
	awaitResolved(t, r4, target, "each pod once, at its IPv4 address", hasExactly(addrsOf(pods, false)...))
	awaitResolved(t, r4, fmt.Sprintf("dual.%s:%d", c.ns, dualTargetPort), "the same, by endpoint port number", hasExactly(addrsOf(pods, false)...))
	awaitResolved(t, r6, target, "each pod once, at its IPv6 address", hasExactly(addrsOf(pods, true)...))
	families := c.sliceFamilies(t, "dual")
	if !slices.Equal(families, []string{"IPv4", "IPv6"}) {
		t.Fatalf("the EndpointSlice controller wrote slices of %v, want one per family", families)
	}

	for tgt, want := range map[string]string{
		"dual." + c.ns + ":80": `no endpoint port "80" (the Service's endpoints have 8888 (rpc), 9090 (admin))`,
		"dual." + c.ns:         "the Service has several ports (8888 (rpc), 9090 (admin))",
	} {
		var te *k8s.TargetError
		if err := awaitResolveError(t, r4, tgt); !errors.As(err, &te) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a *k8s.TargetError saying %s", tgt, err, want)
		}
	}

	l4, l6 := startLoad(resolvedClient(t, target, r4), 2), startLoad(resolvedClient(t, target, r6), 2)
	l4.waitCalls(t, 100)
	l6.waitCalls(t, 100)
	gone := pods[0]
	c.kubelet.run(gone.name) // readiness fails, then the pod goes
	awaitResolved(t, r4, target, "two pods (IPv4)", hasExactly(addrsOf(pods[1:], false)...))
	awaitResolved(t, r6, target, "two pods (IPv6)", hasExactly(addrsOf(pods[1:], true)...))
	c.deletePodNamed(t, gone.name)
	l4.waitCalls(t, 100)
	l6.waitCalls(t, 100)
	l4.finish(t)
	l6.finish(t)
	var on4, on6 int64
	for _, p := range pods {
		on4 += p.srv4.calls.Load()
		on6 += p.srv6.calls.Load()
		for _, s := range []*countedServer{p.srv4, p.srv6} {
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if on4 != l4.calls.Load() || on6 != l6.calls.Load() {
		t.Fatalf("IPv4 servers handled %d calls of the IPv4 client's %d, IPv6 servers %d of the IPv6 client's %d",
			on4, l4.calls.Load(), on6, l6.calls.Load())
	}
}

// startDualPod creates a pod of the dual Service with the named container
// port "rpc", a server on each of its two addresses, and has the kubelet
// report both addresses.
func (c *cluster) startDualPod(t *testing.T, name string) *dualPod {
	t.Helper()
	spec := newPod(name, "dual", "node-a", false)
	spec.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "rpc", ContainerPort: dualTargetPort}, {Name: "admin", ContainerPort: 9090}}
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), spec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := &dualPod{name: name, v4: c.hosts.AddIP(t), v6: c.hosts.AddIPv6(t)}
	p.srv4 = startRegisteredOn(t, c.hosts.ListenPort(t, p.v4, dualTargetPort), "dual", nil)
	p.srv6 = startRegisteredOn(t, c.hosts.ListenPort(t, p.v6, dualTargetPort), "dual", nil)
	c.kubelet.run(name, p.v4, p.v6)
	return p
}

// deletePodNamed deletes a pod at once.
func (c *cluster) deletePodNamed(t *testing.T, name string) {
	t.Helper()
	zero := int64(0)
	if err := c.cs.CoreV1().Pods(c.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}

// sliceFamilies lists the address types of the Service's EndpointSlices,
// sorted.
func (c *cluster) sliceFamilies(t *testing.T, service string) []string {
	t.Helper()
	list, err := c.cs.DiscoveryV1().EndpointSlices(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, es := range list.Items {
		out = append(out, string(es.AddressType))
	}
	slices.Sort(out)
	return out
}

// awaitResolveError polls r until resolving target fails, and returns the
// error.
func awaitResolveError(t *testing.T, r discovery.Resolver, target string) error {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := r.Resolve(context.Background(), target); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("resolving %q never failed", target)
	return nil
}

// TestK8sPublishNotReadyAddressesDrain drains a gated pod of a Service with
// publishNotReadyAddresses, whose endpoints the EndpointSlice controller
// reports ready whatever the pods' readiness: the resolver stops calling
// the pod once it no longer serves (its gate False), and Deregister sees
// that and returns well before its drain timeout, instead of waiting it
// out while clients kept calling.
func TestK8sPublishNotReadyAddressesDrain(t *testing.T) {
	c := startCluster(t)
	if _, err := c.cs.CoreV1().Services(c.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "peers"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"}, PublishNotReadyAddresses: true, Ports: []corev1.ServicePort{
			{Name: "rpc", Port: echoPort, TargetPort: intstr.FromInt32(echoPort)},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const drainTimeout = 5 * time.Minute // a drain that waits it out fails the test's own deadline
	registryFor := func(name string) *k8s.Registry {
		return k8s.NewRegistry(c.cs, k8s.WithPod(c.ns, name), k8s.WithDrainTimeout(drainTimeout))
	}
	a, b := c.startPod(t, "echo-a", true, registryFor), c.startPod(t, "echo-b", true, registryFor)
	defer b.srv.Stop()
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	target := "peers." + c.ns + ":rpc"
	awaitResolved(t, r, target, "both gated pods", hasExactly(podAddrs(a, b)...))
	l := startLoad(resolvedClient(t, target, r), 4)
	l.waitCalls(t, 100)
	stopped := make(chan error, 1)
	go func() { stopped <- a.srv.Stop() }() // Deregister drains, then the listener closes
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(drainTimeout / 2):
		t.Fatalf("Deregister still draining after %v: it waits for a ready condition publishNotReadyAddresses never clears", drainTimeout/2)
	}
	awaitResolved(t, r, target, "the pod that still serves", hasExactly(podAddrs(b)...))
	l.waitCalls(t, 100)
	l.finish(t)
}

// TestK8sThrottledAPIServerIsVisible puts API Priority and Fairness style
// 429s (Retry-After: 1) between the resolver and the API server, with its
// watch cut so that it must list again: client-go retries 429s inside its
// reflector, yet the metrics show the throttled source (watch restarts,
// sync age past 7 s), the last known set keeps serving every call, and
// once the throttling ends the age drops and changes arrive again.
func TestK8sThrottledAPIServerIsVisible(t *testing.T) {
	c := startCluster(t)
	a := c.startPod(t, "echo-a", false, nil)
	defer a.srv.Stop()
	th := c.kube.StartThrottle(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := k8s.NewResolver(th.Clientset(t), k8s.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, c.target(), "the pod, through the proxy", hasExactly(podAddrs(a)...))
	l := startLoad(resolvedClient(t, c.target(), r), 2)
	l.waitCalls(t, 100)

	th.Start()
	since := time.Now()
	for watchRestarts(t, reader) < 1 || syncAge(t, reader) < 7 {
		if time.Since(since) > 60*time.Second {
			t.Fatalf("60 s of 429s (%d answered): %d watch restarts, sync age %.1fs; the metrics do not show it",
				th.Answered(), watchRestarts(t, reader), syncAge(t, reader))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if th.Answered() == 0 {
		t.Fatal("the proxy answered no request 429")
	}
	t.Logf("%v of throttling: %d requests answered 429, %d watch restarts, sync age %.1fs",
		time.Since(since).Round(time.Millisecond), th.Answered(), watchRestarts(t, reader), syncAge(t, reader))
	l.waitCalls(t, 100) // the last known set serves

	th.Stop()
	b := c.startPod(t, "echo-b", false, nil) // a change after the throttling reaches the resolver
	defer b.srv.Stop()
	awaitResolved(t, r, c.target(), "the pod created after the throttling", hasExactly(podAddrs(a, b)...))
	until := time.Now().Add(60 * time.Second)
	for syncAge(t, reader) > 2 {
		if time.Now().After(until) {
			t.Fatalf("60 s after the throttling ended the sync age is %.1fs", syncAge(t, reader))
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.finish(t)
}
