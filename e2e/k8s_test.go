package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/registry"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/k8s"
)

// cluster is a real control plane with a namespace, a node, the echo
// Service, a test-host network for pod addresses and the test's kubelet.
type cluster struct {
	kube    *harness.Kube
	cs      *kubernetes.Clientset
	hosts   *harness.TestHosts
	kubelet *kubelet
	ns      string
}

const echoPort = 8888

func startCluster(t *testing.T) *cluster {
	t.Helper()
	kube := harness.StartKube(t)
	c := &cluster{kube: kube, cs: kube.Clientset(t), hosts: harness.StartTestHosts(t), ns: "shop"}
	kube.CreateNamespace(t, c.ns)
	kube.CreateNode(t, "node-a", "zone-a")
	_, err := c.cs.CoreV1().Services(c.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo"}, Ports: []corev1.ServicePort{
			{Name: "rpc", Port: echoPort, TargetPort: intstr.FromInt32(echoPort)},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.kubelet = startKubelet(t, c.cs, c.ns)
	return c
}

// pod is a pod of the echo Service with a real Kitex server on its IP.
type pod struct {
	name string
	ip   string
	srv  *countedServer
}

// startPod creates the pod, starts its server on a test-host address and
// tells the kubelet it runs; reg (may be nil) registers the server.
func (c *cluster) startPod(t *testing.T, name string, gated bool, reg func(pod string) *k8s.Registry) *pod {
	t.Helper()
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), newPod(name, "echo", "node-a", gated), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := &pod{name: name, ip: c.hosts.AddIP(t)}
	var r *k8s.Registry
	if reg != nil {
		r = reg(name)
	}
	ln := c.hosts.ListenPort(t, p.ip, echoPort)
	if r != nil {
		p.srv = startRegisteredOn(t, ln, "echo", r)
	} else {
		p.srv = startRegisteredOn(t, ln, "echo", nil)
	}
	c.kubelet.run(name, p.ip)
	return p
}

// deletePod stops the pod's server (if still running) and deletes the pod at once.
func (c *cluster) deletePod(t *testing.T, p *pod) {
	t.Helper()
	c.kubelet.run(p.name)
	c.deletePodNamed(t, p.name)
}

// createSelectorlessService creates a Service without a selector, whose
// EndpointSlices a registry manages (WithManagedEndpointSlice).
func (c *cluster) createSelectorlessService(t *testing.T, name string) {
	t.Helper()
	if _, err := c.cs.CoreV1().Services(c.ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: echoPort}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podAddrs(ps ...*pod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s:%d", p.ip, echoPort)
	}
	return out
}

func (c *cluster) target() string { return fmt.Sprintf("echo.%s:%d", c.ns, echoPort) }

// TestK8sScaleFollows scales the echo Service 0 → 3 → 1 pods: the
// resolver's set and the client's traffic follow.
func TestK8sScaleFollows(t *testing.T) {
	c := startCluster(t)
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	awaitResolved(t, r, c.target(), "no pods", hasExactly())

	var pods []*pod
	start := time.Now()
	for i := range 3 {
		pods = append(pods, c.startPod(t, fmt.Sprintf("echo-%d", i), false, nil))
	}
	awaitResolved(t, r, c.target(), "three pods", hasExactly(podAddrs(pods...)...))
	t.Logf("0 → 3 pods seen %v after the first pod was created", time.Since(start).Round(time.Millisecond))
	res, _ := r.Resolve(context.Background(), c.target())
	if ins := res.Instances[0]; !hasTag(ins, "zone", "zone-a") || !hasTag(ins, "node", "node-a") || !strings.HasPrefix(tagOf(ins, "pod"), "echo-") {
		t.Fatalf("instance tags: %v", ins.(interface{ Tags() map[string]string }).Tags())
	}
	spy := newBalancerSpy()
	cl := resolvedClient(t, c.target(), r, discoverycore.WithFastRefresh(spy, 0))
	for range 30 {
		if err := echoOnce(cl); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		if p.srv.calls.Load() == 0 {
			t.Errorf("pod %s got no calls", p.name)
		}
	}

	start = time.Now()
	for _, p := range pods[1:] {
		c.deletePod(t, p)
	}
	awaitResolved(t, r, c.target(), "one pod", hasExactly(podAddrs(pods[0])...))
	for _, addr := range podAddrs(pods[1:]...) { // and the client's balancer has dropped them
		spy.awaitAddr(t, addr, false, 10*time.Second)
	}
	t.Logf("3 → 1 pods seen by the client's balancer %v after the deletes", time.Since(start).Round(time.Millisecond))
	before := pods[1].srv.calls.Load() + pods[2].srv.calls.Load()
	for range 20 {
		if err := echoOnce(cl); err != nil {
			t.Fatal(err)
		}
	}
	if after := pods[1].srv.calls.Load() + pods[2].srv.calls.Load(); after != before {
		t.Fatalf("deleted pods got %d new calls", after-before)
	}
	for _, p := range pods {
		if err := p.srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func hasTag(ins discovery.Instance, k, v string) bool { got, ok := ins.Tag(k); return ok && got == v }

func tagOf(ins discovery.Instance, k string) string { v, _ := ins.Tag(k); return v }

// TestK8sManySlices resolves a Service with 250 ready pods, which the
// EndpointSlice controller spreads over three slices.
func TestK8sManySlices(t *testing.T) {
	c := startCluster(t)
	const n = 250
	want := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("echo-%03d", i)
		if _, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), newPod(name, "echo", "node-a", false), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ip := fmt.Sprintf("198.19.%d.%d", i/200, i%200+1) // addresses only: these pods serve nothing
		c.kubelet.run(name, ip)
		want[i] = fmt.Sprintf("%s:%d", ip, echoPort)
	}
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	awaitResolved(t, r, c.target(), "all 250 pods", hasExactly(want...))
	slices, err := c.cs.DiscoveryV1().EndpointSlices(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=echo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(slices.Items) < 3 {
		t.Fatalf("the controller wrote %d slices; the test needs a Service spread over several", len(slices.Items))
	}
	t.Logf("250 pods in %d EndpointSlices, all resolved", len(slices.Items))
}

// TestK8sTerminatingAndNotReadyGetNoCalls keeps three servers running while
// one pod fails readiness and another terminates: only the third gets calls.
func TestK8sTerminatingAndNotReadyGetNoCalls(t *testing.T) {
	c := startCluster(t)
	a, b, d := c.startPod(t, "echo-a", false, nil), c.startPod(t, "echo-b", false, nil), c.startPod(t, "echo-c", false, nil)
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	awaitResolved(t, r, c.target(), "three pods", hasExactly(podAddrs(a, b, d)...))

	c.kubelet.run(a.name)                      // readiness fails; its server keeps running
	c.kube.MarkPodTerminating(t, c.ns, b.name) // graceful deletion in progress
	awaitResolved(t, r, c.target(), "only the ready pod", hasExactly(podAddrs(d)...))
	cl := resolvedClient(t, c.target(), r) // a new client: its balancer starts from this set
	ca, cb := a.srv.calls.Load(), b.srv.calls.Load()
	for range 30 {
		if err := echoOnce(cl); err != nil {
			t.Fatal(err)
		}
	}
	if a.srv.calls.Load() != ca || b.srv.calls.Load() != cb || d.srv.calls.Load() != 30 {
		t.Fatalf("calls: not-ready %d, terminating %d, ready %d", a.srv.calls.Load()-ca, b.srv.calls.Load()-cb, d.srv.calls.Load())
	}
	for _, p := range []*pod{a, b, d} {
		if err := p.srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestK8sRollingUpdateWithDrain replaces three gated pods one by one under
// load: each old server's Deregister turns its gate False and waits until
// its endpoint left the ready set before Kitex closes the listener.
func TestK8sRollingUpdateWithDrain(t *testing.T) {
	c := startCluster(t)
	registryFor := func(name string) *k8s.Registry { return k8s.NewRegistry(c.cs, k8s.WithPod(c.ns, name)) }
	pods := []*pod{c.startPod(t, "echo-1", true, registryFor), c.startPod(t, "echo-2", true, registryFor), c.startPod(t, "echo-3", true, registryFor)}
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	awaitResolved(t, r, c.target(), "three gated pods", hasExactly(podAddrs(pods...)...))
	l := startLoad(resolvedClient(t, c.target(), r), 4)
	l.waitCalls(t, 100)
	for i, old := range pods {
		pods[i] = c.startPod(t, fmt.Sprintf("echo-%d-v2", i+1), true, registryFor)
		awaitResolved(t, r, c.target(), "the new pod", hasExactly(append(podAddrs(pods...), podAddrs(old)...)...))
		if err := old.srv.Stop(); err != nil { // Deregister drains, then the listener closes
			t.Fatal(err)
		}
		c.deletePod(t, old)
		l.waitCalls(t, 100)
	}
	l.finish(t)
	for _, p := range pods {
		if err := p.srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestK8sAPIServerRestartUnderLoad restarts kube-apiserver while clients
// call: no call fails, and the resolver resyncs afterwards.
func TestK8sAPIServerRestartUnderLoad(t *testing.T) {
	c := startCluster(t)
	a, b := c.startPod(t, "echo-a", false, nil), c.startPod(t, "echo-b", false, nil)
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	awaitResolved(t, r, c.target(), "two pods", hasExactly(podAddrs(a, b)...))
	l := startLoad(resolvedClient(t, c.target(), r), 4)
	l.waitCalls(t, 100)
	c.kube.RestartAPIServer(t)
	l.waitCalls(t, 100)
	d := c.startPod(t, "echo-c", false, nil) // a change after the restart reaches the resolver
	awaitResolved(t, r, c.target(), "the pod created after the restart", hasExactly(podAddrs(a, b, d)...))
	l.finish(t)
	for _, p := range []*pod{a, b, d} {
		if err := p.srv.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestK8sRBAC resolves with a ServiceAccount token bound only to the Role of
// rbac/client.yaml; a token without it gets an error naming the rule.
func TestK8sRBAC(t *testing.T) {
	c := startCluster(t)
	a := c.startPod(t, "echo-a", false, nil)
	defer a.srv.Stop()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "kitexsuite-resolver"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
	}}
	if _, err := c.cs.RbacV1().Roles(c.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kitexsuite-resolver"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "client", Namespace: c.ns}}}
	if _, err := c.cs.RbacV1().RoleBindings(c.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clientset := func(token string) *kubernetes.Clientset {
		cs, err := kubernetes.NewForConfig(c.kube.ConfigForToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	allowed := k8s.NewResolver(clientset(c.kube.ServiceAccountToken(t, c.ns, "client")))
	defer allowed.Close()
	awaitResolved(t, allowed, c.target(), "the pod with the minimal Role", hasExactly(podAddrs(a)...))

	denied := k8s.NewResolver(clientset(c.kube.ServiceAccountToken(t, c.ns, "stranger")))
	defer denied.Close()
	_, err := denied.Resolve(ctx, c.target())
	var pe *k8s.PermissionError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "endpointslices (apiGroup discovery.k8s.io)") {
		t.Fatalf("resolve without the Role: %v, want a PermissionError naming the rule", err)
	}
	t.Logf("without the Role: %v", err)
}

// TestK8sManagedEndpointSlice registers a process outside any pod into a
// selector-less Service through an EndpointSlice the registry renews.
func TestK8sManagedEndpointSlice(t *testing.T) {
	c := startCluster(t)
	c.createSelectorlessService(t, "vm-echo")
	ip := c.hosts.AddIP(t)
	reg := k8s.NewRegistry(c.cs, k8s.WithManagedEndpointSlice(c.ns, "vm-echo"))
	s := startRegisteredOn(t, c.hosts.ListenPort(t, ip, echoPort), "vm-echo", reg)
	r := k8s.NewResolver(c.cs)
	defer r.Close()
	target := fmt.Sprintf("vm-echo.%s:%d", c.ns, echoPort)
	awaitResolved(t, r, target, "the process outside pods", hasExactly(fmt.Sprintf("%s:%d", ip, echoPort)))
	if err := echoOnce(resolvedClient(t, target, r)); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	awaitResolved(t, r, target, "the process gone", hasExactly())
}

// TestK8sRegisterThroughAPIServerOutage registers a gated pod while
// kube-apiserver is down: Register returns without error (Kitex's Run
// goes on serving; the old registry failed it after 15 s, a
// CrashLoopBackOff through any API outage), and the gate turns True in the
// background once the API server is back.
func TestK8sRegisterThroughAPIServerOutage(t *testing.T) {
	c := startCluster(t)
	const name = "echo-outage"
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), newPod(name, "echo", "node-a", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := k8s.NewRegistry(c.cs, k8s.WithPod(c.ns, name), k8s.WithDrainDelay(0))
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(198, 18, 0, 1), Port: echoPort}}
	c.kube.StopAPIServer()
	if err := reg.Register(info); err != nil {
		t.Fatalf("Register during an API server outage: %v; want nil and a retry in the background", err)
	}
	c.kube.StartAPIServer(t)
	start := time.Now()
	for !gateIs(t, c, name, corev1.ConditionTrue) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the readiness gate did not turn True within 30 s of the API server's return")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("gate True %v after the API server returned", time.Since(start).Round(time.Millisecond))
	if err := reg.Deregister(info); err != nil {
		t.Fatal(err)
	}
	if !gateIs(t, c, name, corev1.ConditionFalse) {
		t.Fatal("Deregister left the gate True")
	}
}

// gateIs reports whether pod name's kitexsuite readiness gate has status.
func gateIs(t *testing.T, c *cluster, name string, status corev1.ConditionStatus) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p, err := c.cs.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false // the API server may still be starting
	}
	for _, cond := range p.Status.Conditions {
		if string(cond.Type) == k8s.DefaultReadinessGate {
			return cond.Status == status
		}
	}
	return false
}

// TestK8sAPIServerOutageIsVisible stops kube-apiserver under a resolver
// following a pod and a managed EndpointSlice with a 3 s TTL:
// the resolver's self-metrics show the outage (watch restarts counted,
// sync age growing: client-go retries a refused connection inside its
// reflector and resyncs replay the cache, which used to keep both at
// zero), the last known set keeps serving — the managed instance too,
// whose renewals cannot arrive (its lease was judged against the writer's
// annotation and expired on every client) — and once the API server is
// back the age drops.
func TestK8sAPIServerOutageIsVisible(t *testing.T) {
	c := startCluster(t)
	a := c.startPod(t, "echo-a", false, nil)
	defer a.srv.Stop()
	c.createSelectorlessService(t, "vm-echo")
	ip := c.hosts.AddIP(t)
	vm := startRegisteredOn(t, c.hosts.ListenPort(t, ip, echoPort), "vm-echo",
		k8s.NewRegistry(c.cs, k8s.WithManagedEndpointSlice(c.ns, "vm-echo"), k8s.WithTTL(3*time.Second), k8s.WithDrainDelay(0)))
	defer vm.Stop()
	vmTarget, vmAddr := fmt.Sprintf("vm-echo.%s:%d", c.ns, echoPort), fmt.Sprintf("%s:%d", ip, echoPort)

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	r := k8s.NewResolver(c.cs, k8s.WithDiscoveryOptions(discoverycore.WithMeterProvider(mp)))
	defer r.Close()
	awaitResolved(t, r, c.target(), "the pod", hasExactly(podAddrs(a)...))
	awaitResolved(t, r, vmTarget, "the managed instance", hasExactly(vmAddr))

	c.kube.StopAPIServer()
	down := time.Now()
	for watchRestarts(t, reader) < 2 || syncAge(t, reader) < 7 { // both targets; more than two TTLs
		if time.Since(down) > 60*time.Second {
			t.Fatalf("60 s into an API-server outage: %d watch restarts, sync age %.1fs; the metrics do not show it",
				watchRestarts(t, reader), syncAge(t, reader))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%v into the outage: %d watch restarts, sync age %.1fs", time.Since(down).Round(time.Millisecond), watchRestarts(t, reader), syncAge(t, reader))
	awaitResolved(t, r, c.target(), "the pod, during the outage", hasExactly(podAddrs(a)...))
	awaitResolved(t, r, vmTarget, "the managed instance, past two TTLs of outage", hasExactly(vmAddr))

	c.kube.StartAPIServer(t)
	up := time.Now()
	for syncAge(t, reader) > 2 {
		if time.Since(up) > 60*time.Second {
			t.Fatalf("60 s after the API server returned the sync age is %.1fs", syncAge(t, reader))
		}
		time.Sleep(100 * time.Millisecond)
	}
	awaitResolved(t, r, vmTarget, "the managed instance after the outage", hasExactly(vmAddr))
}

// watchRestarts sums kitexsuite.discovery.watch.restarts over targets.
func watchRestarts(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "kitexsuite.discovery.watch.restarts" {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}
