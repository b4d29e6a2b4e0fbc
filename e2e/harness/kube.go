package harness

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

const (
	// KubernetesVersion is the release of kube-apiserver and
	// kube-controller-manager that scripts/build-kubernetes.sh builds and
	// the harness runs.
	KubernetesVersion = "v1.37.2"
	// kubeReadyTimeout bounds how long a (re)started process may take to
	// become healthy.
	kubeReadyTimeout = 60 * time.Second
	// kubeStopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	kubeStopTimeout = 15 * time.Second
	// kubeRelistenTimeout bounds how long RestartAPIServer retries while the
	// kernel still holds the old port.
	kubeRelistenTimeout = 10 * time.Second
	// kubeAwaitTimeout bounds the waits of the kubelet-playing helpers.
	kubeAwaitTimeout = 30 * time.Second
	// kubeTerminationGrace is the grace period (seconds) of
	// MarkPodTerminating's delete. With no kubelet, nothing ends it.
	kubeTerminationGrace = 30
)

// kubeControllers are the controllers kube-controller-manager runs: those
// that turn Services and Pods into EndpointSlices (and Endpoints), give
// namespaces their "default" ServiceAccount (which Pod admission requires)
// and tokens, fill the aggregated ClusterRoles (view, edit, admin), delete
// namespaces, collect garbage, and run Deployments and ReplicaSets (whose
// Pods no scheduler places: set spec.nodeName).
var kubeControllers = []string{
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"endpoints-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"deployment-controller",
	"replicaset-controller",
}

// KubeBackgroundGoroutines are the top functions of goroutines that
// client-go leaves running process-wide, which goroutine-leak checks must
// ignore. It is empty: with client-go v0.37.2 closed connections leave
// none, and klog's flush daemon only runs when klog writes to files
// (TestKube checks it). Leak checks still list it, so that a future
// client-go's process-wide goroutine is ignored in one place.
var KubeBackgroundGoroutines = []string{}

// Kube is a real Kubernetes control plane: kube-apiserver and
// kube-controller-manager as child processes on free loopback ports,
// backed by an embedded etcd (StartEtcd). There is no kubelet and no
// scheduler: tests play the kubelet with CreateNode, SetPodReady and
// MarkPodTerminating. The processes' output goes to buffers shown when the
// test fails.
type Kube struct {
	bins, dir  string
	etcd       *Etcd
	api, cm    string // host:port of the API server and controller manager
	files      kubeFiles
	caPEM      []byte
	roots      *x509.CertPool
	token      string // the admin token (system:masters)
	apiLog     *lineWriter
	cmLog      *lineWriter
	transports roundTripperSet

	mu      sync.Mutex
	apiProc *Process // nil once stopped
	cmProc  *Process // nil once stopped
}

// StartKube starts etcd, kube-apiserver (RBAC on, a static admin token)
// and kube-controller-manager, and waits until the API server is ready
// (/readyz), the controller manager healthy (/healthz) and its controllers
// at work: the "default" ServiceAccount of namespace default exists. All
// stop when tb's test ends, and their logs are shown if the test failed.
func StartKube(tb testing.TB) *Kube {
	tb.Helper()
	bins, err := KubeBinaries()
	if err != nil {
		tb.Fatalf("kube harness: %v", err)
	}
	etcd := StartEtcd(tb)
	ports, err := freePorts(2)
	if err != nil {
		tb.Fatalf("kube harness: %v", err)
	}
	k := &Kube{
		bins:   bins,
		dir:    tb.TempDir(),
		etcd:   etcd,
		api:    ports[0],
		cm:     ports[1],
		apiLog: &lineWriter{ring: &logRing{}},
		cmLog:  &lineWriter{ring: &logRing{}},
	}
	if k.files, k.caPEM, k.token, err = writeKubeFiles(k.dir, k.api); err != nil {
		tb.Fatalf("kube harness: %v", err)
	}
	if k.roots, err = parseCA(k.caPEM); err != nil {
		tb.Fatalf("kube harness: %v", err)
	}
	dumpOnFailure(tb, "kube-apiserver", k.apiLog.ring)
	dumpOnFailure(tb, "kube-controller-manager", k.cmLog.ring)
	tb.Cleanup(k.Stop)
	if err := k.startAPIServer(0); err != nil {
		tb.Fatalf("kube harness: %v (its log follows)", err)
	}
	if err := k.startControllerManager(); err != nil {
		tb.Fatalf("kube harness: %v (its log follows)", err)
	}
	if err := k.awaitServiceAccount(context.Background(), metav1.NamespaceDefault); err != nil {
		tb.Fatalf("kube harness: controllers not at work: %v (the logs follow)", err)
	}
	return k
}

// Host returns the API server's URL, https://127.0.0.1:PORT, the same
// across RestartAPIServer.
func (k *Kube) Host() string { return "https://" + k.api }

// CAData returns the PEM of the CA that signed the API server's
// certificate.
func (k *Kube) CAData() []byte { return slices.Clone(k.caPEM) }

// Kubeconfig returns the path of a kubeconfig file for the API server with
// the admin token (the controller manager's, handy for kubectl).
func (k *Kube) Kubeconfig() string { return k.files.kubeconfig }

// AdminConfig returns a new client configuration for the API server with
// the admin bearer token (group system:masters), QPS 500 and Burst 1000.
func (k *Kube) AdminConfig() *rest.Config { return k.ConfigForToken(k.token) }

// ConfigForToken returns AdminConfig with another bearer token, such as a
// ServiceAccount's (ServiceAccountToken), whose rights RBAC decides.
// Its transport's idle connections are closed when the control plane
// stops, so goroutine-leak checks stay clean.
func (k *Kube) ConfigForToken(token string) *rest.Config {
	return &rest.Config{
		Host:            k.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.CAData()},
		QPS:             500,
		Burst:           1000,
		WrapTransport:   k.transports.wrap,
	}
}

// Clientset returns a new admin clientset (AdminConfig) whose idle
// connections are closed when tb's test ends.
func (k *Kube) Clientset(tb testing.TB) *kubernetes.Clientset {
	tb.Helper()
	cs, hc, err := k.clientset()
	if err != nil {
		tb.Fatalf("kube harness: %v", err)
	}
	tb.Cleanup(func() { utilnet.CloseIdleConnectionsFor(hc.Transport) })
	return cs
}

// clientset returns a new admin clientset and its HTTP client.
func (k *Kube) clientset() (*kubernetes.Clientset, *http.Client, error) {
	cfg := k.AdminConfig()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("HTTP client: %w", err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, fmt.Errorf("clientset: %w", err)
	}
	return cs, hc, nil
}

// ServiceAccountToken creates the ServiceAccount namespace/name unless it
// exists, and returns a token of it (an hour long) from the TokenRequest
// API, for ConfigForToken. It has no rights but what RBAC grants it.
func (k *Kube) ServiceAccountToken(tb testing.TB, namespace, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), kubeAwaitTimeout)
	defer cancel()
	sas := k.Clientset(tb).CoreV1().ServiceAccounts(namespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := sas.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("kube harness: create ServiceAccount %s/%s: %v", namespace, name, err)
	}
	expiry := int64(time.Hour / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	tr, err := sas.CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kube harness: token of ServiceAccount %s/%s: %v", namespace, name, err)
	}
	return tr.Status.Token
}

// RestartAPIServer stops kube-apiserver, starts it again on the same port
// (etcd keeps every object) and waits until it is ready. Clients and the
// controller manager see an outage and reconnect.
func (k *Kube) RestartAPIServer(tb testing.TB) {
	tb.Helper()
	k.StopAPIServer()
	k.StartAPIServer(tb)
}

// StopAPIServer stops kube-apiserver alone, for an outage as long as the
// test wants; StartAPIServer ends it. Stopping a stopped one does nothing.
func (k *Kube) StopAPIServer() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.apiProc != nil {
		k.transports.closeIdle()
		_ = k.apiProc.Stop(kubeStopTimeout)
		k.apiProc = nil
	}
}

// StartAPIServer starts a stopped kube-apiserver again on the same port and
// waits until it is ready.
func (k *Kube) StartAPIServer(tb testing.TB) {
	tb.Helper()
	if err := k.startAPIServer(kubeRelistenTimeout); err != nil {
		tb.Fatalf("kube harness: start kube-apiserver: %v (its log follows)", err)
	}
}

// Stop stops kube-controller-manager, kube-apiserver and etcd (each with
// SIGTERM, then SIGKILL after 15 s) and waits until they have exited.
// Stopping a stopped control plane does nothing.
func (k *Kube) Stop() {
	k.mu.Lock()
	k.transports.closeIdle()
	for _, p := range []**Process{&k.cmProc, &k.apiProc} {
		if *p != nil {
			_ = (*p).Stop(kubeStopTimeout)
			*p = nil
		}
	}
	k.mu.Unlock()
	k.etcd.Stop()
}

// CreateNode creates a Node named name, labelled with
// topology.kubernetes.io/zone=zone (unless zone is empty), and marks it
// Ready, as a kubelet would.
func (k *Kube) CreateNode(tb testing.TB, name, zone string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), kubeAwaitTimeout)
	defer cancel()
	labels := map[string]string{corev1.LabelHostname: name}
	if zone != "" {
		labels[corev1.LabelTopologyZone] = zone
	}
	nodes := k.Clientset(tb).CoreV1().Nodes()
	node, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kube harness: create Node %s: %v", name, err)
	}
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "played by the kitexsuite harness", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		tb.Fatalf("kube harness: mark Node %s Ready: %v", name, err)
	}
}

// CreateNamespace creates a namespace and waits until it has its "default"
// ServiceAccount, so that Pods are admitted in it.
func (k *Kube) CreateNamespace(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), kubeAwaitTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := k.Clientset(tb).CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kube harness: create Namespace %s: %v", name, err)
	}
	if err := k.awaitServiceAccount(ctx, name); err != nil {
		tb.Fatalf("kube harness: %v (the logs follow)", err)
	}
}

// SetPodReady sets, as a kubelet would, the status of Pod ns/name: phase
// Running, podIP and podIPs ip (none if ip is empty), and conditions Ready
// and ContainersReady as ready says (PodScheduled and Initialized true).
func (k *Kube) SetPodReady(tb testing.TB, ns, name, ip string, ready bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), kubeAwaitTimeout)
	defer cancel()
	pods := k.Clientset(tb).CoreV1().Pods(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		st := &pod.Status
		st.Phase = corev1.PodRunning
		st.PodIP, st.PodIPs = ip, nil
		if ip != "" {
			st.PodIPs = []corev1.PodIP{{IP: ip}}
		}
		if st.StartTime == nil {
			st.StartTime = &now
		}
		readiness := corev1.ConditionFalse
		if ready {
			readiness = corev1.ConditionTrue
		}
		setPodCondition(st, corev1.PodScheduled, corev1.ConditionTrue, now)
		setPodCondition(st, corev1.PodInitialized, corev1.ConditionTrue, now)
		setPodCondition(st, corev1.ContainersReady, readiness, now)
		setPodCondition(st, corev1.PodReady, readiness, now)
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		tb.Fatalf("kube harness: set status of Pod %s/%s: %v", ns, name, err)
	}
}

// setPodCondition sets the condition typ of st to status, noting the
// transition time when it changes.
func setPodCondition(st *corev1.PodStatus, typ corev1.PodConditionType, status corev1.ConditionStatus, now metav1.Time) {
	for i := range st.Conditions {
		if c := &st.Conditions[i]; c.Type == typ {
			if c.Status != status {
				c.Status, c.LastTransitionTime = status, now
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: typ, Status: status, LastTransitionTime: now})
}

// MarkPodTerminating deletes Pod ns/name with a grace period of 30 s and
// waits until it has a deletionTimestamp. With no kubelet to finish the
// deletion, the Pod then stays terminating (for good: delete it again with
// a grace period of 0 to remove it), and the EndpointSlice controller
// reports its endpoint terminating.
func (k *Kube) MarkPodTerminating(tb testing.TB, ns, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), kubeAwaitTimeout)
	defer cancel()
	pods := k.Clientset(tb).CoreV1().Pods(ns)
	grace := int64(kubeTerminationGrace)
	if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		tb.Fatalf("kube harness: delete Pod %s/%s: %v", ns, name, err)
	}
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		tb.Fatalf("kube harness: Pod %s/%s after a graceful delete: %v (is it scheduled, with spec.nodeName, and Running?)", ns, name, err)
	}
	if pod.DeletionTimestamp == nil {
		tb.Fatalf("kube harness: Pod %s/%s has no deletionTimestamp after a graceful delete", ns, name)
	}
}
