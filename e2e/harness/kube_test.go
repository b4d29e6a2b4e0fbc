package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// TestKube runs a control plane through the kubelet-playing helpers, RBAC
// with a ServiceAccount token and an API server restart, and checks that
// once it has stopped no goroutine is left.
func TestKube(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		start := time.Now()
		k := StartKube(t)
		t.Logf("control plane ready in %s", time.Since(start))
		hosts := StartTestHosts(t)
		t.Run("EndpointSlice", func(t *testing.T) {
			k.CreateNode(t, "node-a", "zone-a")
			k.CreateNamespace(t, "echo-ns")
			cs := k.Clientset(t)
			createEcho(t, cs, "echo-ns", "echo-1", "node-a")
			ip := hosts.AddIP(t)
			k.SetPodReady(t, "echo-ns", "echo-1", ip, true)
			awaitEndpoint(t, cs, "echo-ns", "echo", ip, "ready in zone-a on node-a", func(ep discoveryv1.Endpoint) bool {
				return is(ep.Conditions.Ready) && !is(ep.Conditions.Terminating) &&
					ep.Zone != nil && *ep.Zone == "zone-a" && ep.NodeName != nil && *ep.NodeName == "node-a"
			})
			k.SetPodReady(t, "echo-ns", "echo-1", ip, false)
			awaitEndpoint(t, cs, "echo-ns", "echo", ip, "not ready", func(ep discoveryv1.Endpoint) bool {
				return !is(ep.Conditions.Ready) && !is(ep.Conditions.Serving)
			})
			k.SetPodReady(t, "echo-ns", "echo-1", ip, true)
			k.MarkPodTerminating(t, "echo-ns", "echo-1")
			awaitEndpoint(t, cs, "echo-ns", "echo", ip, "terminating and serving", func(ep discoveryv1.Endpoint) bool {
				return is(ep.Conditions.Terminating) && is(ep.Conditions.Serving) && !is(ep.Conditions.Ready)
			})
		})
		t.Run("ServiceAccountToken", func(t *testing.T) {
			testServiceAccountToken(t, k)
		})
		t.Run("RestartAPIServer", func(t *testing.T) {
			cs := k.Clientset(t)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}, Data: map[string]string{"k": "v"}}
			cm, err := cs.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			k.RestartAPIServer(t)
			t.Logf("API server restarted in %s", time.Since(start))
			got, err := cs.CoreV1().ConfigMaps("default").Get(t.Context(), "kept", metav1.GetOptions{})
			if err != nil || got.UID != cm.UID || got.Data["k"] != "v" {
				t.Fatalf("after restart: ConfigMap %v, err %v; want UID %s with k=v", got, err, cm.UID)
			}
			// The controller manager has reconnected: a new Pod gets its
			// endpoint.
			k.CreateNode(t, "node-b", "zone-b")
			k.CreateNamespace(t, "after-restart")
			createEcho(t, cs, "after-restart", "echo-2", "node-b")
			ip := hosts.AddIP(t)
			start = time.Now()
			k.SetPodReady(t, "after-restart", "echo-2", ip, true)
			awaitEndpoint(t, cs, "after-restart", "echo", ip, "ready in zone-b", func(ep discoveryv1.Endpoint) bool {
				return is(ep.Conditions.Ready) && ep.Zone != nil && *ep.Zone == "zone-b"
			})
			t.Logf("EndpointSlice after restart in %s", time.Since(start))
		})
		t.Run("RestartWaitsForPort", func(t *testing.T) {
			k.mu.Lock()
			_ = k.apiProc.Stop(kubeStopTimeout)
			k.apiProc = nil
			k.mu.Unlock()
			l, err := net.Listen("tcp", k.api)
			if err != nil {
				t.Fatalf("hold the API port: %v", err)
			}
			if err := k.startAPIServer(0); err == nil || !k.apiLog.inUse() {
				l.Close()
				t.Fatalf("start on a held port: %v (port in use logged: %v), want a failure", err, k.apiLog.inUse())
			}
			release := time.AfterFunc(time.Second, func() { l.Close() })
			defer release.Stop()
			k.RestartAPIServer(t)
			if _, err := k.Clientset(t).CoreV1().ConfigMaps("default").Get(t.Context(), "kept", metav1.GetOptions{}); err != nil {
				t.Fatalf("after restart: %v", err)
			}
		})
	})
	goleak.VerifyNone(t, leakOptions()...)
}

// testServiceAccountToken checks that a ServiceAccount's token
// authenticates as it, and that RBAC alone decides what it may do.
func testServiceAccountToken(t *testing.T, k *Kube) {
	token := k.ServiceAccountToken(t, "default", "reader")
	if again := k.ServiceAccountToken(t, "default", "reader"); again == "" {
		t.Fatal("no second token for an existing ServiceAccount")
	}
	sa, err := kubernetes.NewForConfig(k.ConfigForToken(token))
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("who am I: %v", err)
	}
	if got := review.Status.UserInfo.Username; got != "system:serviceaccount:default:reader" {
		t.Fatalf("the token authenticates as %q", got)
	}
	slices := sa.DiscoveryV1().EndpointSlices("default")
	if _, err := slices.List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list EndpointSlices without a role: %v, want Forbidden", err)
	}
	admin := k.Clientset(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "slice-reader"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"},
			Verbs: []string{"get", "list", "watch"},
		}},
	}
	if _, err := admin.RbacV1().Roles("default").Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "slice-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "slice-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: "reader"}},
	}
	if _, err := admin.RbacV1().RoleBindings("default").Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last error
	err = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = slices.List(ctx, metav1.ListOptions{})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("list EndpointSlices with the role: %v", last)
	}
	if _, err := sa.CoreV1().Secrets("default").List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list Secrets with the role: %v, want Forbidden", err)
	}
}

// createEcho creates in ns a Service echo (app=echo, port 8888) and a Pod
// of it on node.
func createEcho(t *testing.T, cs kubernetes.Interface, ns, pod, node string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []corev1.ServicePort{{Name: "rpc", Port: 8888, TargetPort: intstr.FromInt32(8888)}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Labels: map[string]string{"app": "echo"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "echo", Image: "kitexsuite.invalid/echo:test", Ports: []corev1.ContainerPort{{ContainerPort: 8888}}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// awaitEndpoint watches the EndpointSlices of Service ns/svc until one
// lists ip, on port 8888, in a state ok accepts.
func awaitEndpoint(t *testing.T, cs kubernetes.Interface, ns, svc, ip, want string, ok func(discoveryv1.Endpoint) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	api := cs.DiscoveryV1().EndpointSlices(ns)
	opts := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc}
	list, err := api.List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]*discoveryv1.EndpointSlice{}
	for i := range list.Items {
		current[list.Items[i].Name] = &list.Items[i]
	}
	found := func() bool {
		for _, s := range current {
			if len(s.Ports) != 1 || s.Ports[0].Port == nil || *s.Ports[0].Port != 8888 {
				continue
			}
			for _, ep := range s.Endpoints {
				if len(ep.Addresses) == 1 && ep.Addresses[0] == ip && ok(ep) {
					return true
				}
			}
		}
		return false
	}
	opts.ResourceVersion = list.ResourceVersion
	w, err := api.Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for !found() {
		select {
		case ev, open := <-w.ResultChan():
			if !open {
				t.Fatalf("watch of %s/%s's EndpointSlices ended", ns, svc)
			}
			s, isSlice := ev.Object.(*discoveryv1.EndpointSlice)
			switch {
			case ev.Type == watch.Error || !isSlice:
				t.Fatalf("watch of %s/%s's EndpointSlices: %v", ns, svc, apierrors.FromObject(ev.Object))
			case ev.Type == watch.Deleted:
				delete(current, s.Name)
			default:
				current[s.Name] = s
			}
		case <-ctx.Done():
			t.Fatalf("no EndpointSlice of %s/%s lists %s %s; it has %s", ns, svc, ip, want, describeSlices(current))
		}
	}
}

// describeSlices returns the endpoints of slices, for failures.
func describeSlices(slices map[string]*discoveryv1.EndpointSlice) string {
	var b strings.Builder
	for name, s := range slices {
		fmt.Fprintf(&b, "\n  %s:", name)
		for _, ep := range s.Endpoints {
			fmt.Fprintf(&b, " %v ready=%v serving=%v terminating=%v zone=%v node=%v;", ep.Addresses,
				str(ep.Conditions.Ready), str(ep.Conditions.Serving), str(ep.Conditions.Terminating), str(ep.Zone), str(ep.NodeName))
		}
	}
	return b.String()
}

func is(b *bool) bool { return b != nil && *b }

func str[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// TestTestHosts checks that an address AddIP gives is served, from inside
// the namespace, to clients in the root namespace.
func TestTestHosts(t *testing.T) {
	h := StartTestHosts(t)
	ip, other := h.AddIP(t), h.AddIP(t)
	if ip == other || !strings.HasPrefix(ip, "198.18.") || strings.HasSuffix(ip, ".1") {
		t.Fatalf("AddIP gave %s and %s", ip, other)
	}
	if l, err := net.Listen("tcp", net.JoinHostPort(ip, "0")); err == nil {
		l.Close()
		t.Fatalf("%s is local to the root namespace too", ip)
	}
	serveEcho(t, h.Listen(t, ip))
	// Every "pod" may serve on the same port, at an address of its own.
	for _, addr := range []string{ip, other} {
		serveEcho(t, h.ListenPort(t, addr, 8888))
	}
	// Removing the first address of the subnet (the primary one) keeps the
	// others, whose tests may still run.
	if err := ipCmd("-n", h.Namespace(), "addr", "del", ip+"/16", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	serveEcho(t, h.Listen(t, other))
}

// serveEcho serves l with an echo server until the test ends, and checks
// that a client in the root namespace is echoed.
func serveEcho(t *testing.T, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { l.Close() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from the root namespace: %v", l.Addr(), err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != TestHostsGateway {
		t.Errorf("the connection to %s comes from %s, want %s", l.Addr(), got, TestHostsGateway)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo from %s: %q, %v", l.Addr(), buf, err)
	}
}

// TestTestHostsRemovesStale checks that StartTestHosts removes the
// namespaces and links a crashed run left, and its own at the end.
func TestTestHostsRemovesStale(t *testing.T) {
	for _, args := range [][]string{
		{"netns", "add", "kxs-stale"},
		{"link", "add", "kxh-stale", "type", "veth", "peer", "name", "eth0", "netns", "kxs-stale"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	var ns, link string
	t.Run("hosts", func(t *testing.T) {
		h := StartTestHosts(t)
		ns, link = h.Namespace(), h.net.host
		if _, err := os.Stat(netnsDir + "/kxs-stale"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale namespace: %v", err)
		}
		if linkExists("kxh-stale") {
			t.Error("stale link kept")
		}
	})
	if _, err := os.Stat(netnsDir + "/" + ns); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s after the test: %v", ns, err)
	}
	if linkExists(link) {
		t.Errorf("link %s kept after the test", link)
	}
	// The lock is free again.
	f, err := lockTestHosts(t)
	if err != nil {
		t.Fatal(err)
	}
	unlockTestHosts(f)
}

func TestKubeBinariesMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KITEXSUITE_KUBE_DIR", dir)
	_, err := KubeBinaries()
	if err == nil || !strings.Contains(err.Error(), "scripts/build-kubernetes.sh") || !strings.Contains(err.Error(), dir+"/kube-apiserver") {
		t.Fatalf("KubeBinaries with an empty directory: %v, want an error naming kube-apiserver there and scripts/build-kubernetes.sh", err)
	}
	t.Setenv("KITEXSUITE_KUBE_DIR", "")
	t.Setenv("KITEXSUITE_CACHE", "/nonexistent/cache")
	if _, err := KubeBinaries(); err == nil || !strings.Contains(err.Error(), "/nonexistent/cache/bin/kubernetes-v1.37.2/") {
		t.Fatalf("KubeBinaries under KITEXSUITE_CACHE: %v, want the cache path", err)
	}
}
