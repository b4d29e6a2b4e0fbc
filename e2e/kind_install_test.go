//go:build kind

package e2e

// What the kind scenarios install: per registry, a namespace holding the
// registry's own servers (etcd; a Consul server and a node-local client
// agent per node) and the example chain from its Helm chart, exporting
// spans to the harness's Jaeger beside the cluster; Prometheus, also beside
// it, learns the chain's pods from an informer (http_sd) and scrapes them
// through the API server's proxy, so the host reaches the cluster only at
// its loopback API endpoint.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/connrotation"

	"github.com/kitexsuite/suite/e2e/harness"
)

// kindEnv is what scripts/kind/e2e.sh tells the test about the cluster.
type kindEnv struct {
	kubeconfig string // KUBECONFIG
	node       string // KITEXSUITE_KIND_NODE: the node's container and Node name
	hostIP     string // KITEXSUITE_KIND_HOST_IP: this host on the cluster's docker network
	imageTag   string // KITEXSUITE_KIND_IMAGE_TAG: tag of the kitexsuite.local images
	helm       string // KITEXSUITE_HELM: the helm binary
}

func kindEnvFromEnv(t *testing.T) kindEnv {
	t.Helper()
	e := kindEnv{kubeconfig: os.Getenv("KUBECONFIG"), node: os.Getenv("KITEXSUITE_KIND_NODE"),
		hostIP: os.Getenv("KITEXSUITE_KIND_HOST_IP"), imageTag: os.Getenv("KITEXSUITE_KIND_IMAGE_TAG"), helm: os.Getenv("KITEXSUITE_HELM")}
	for name, v := range map[string]string{"KUBECONFIG": e.kubeconfig, "KITEXSUITE_KIND_NODE": e.node,
		"KITEXSUITE_KIND_HOST_IP": e.hostIP, "KITEXSUITE_KIND_IMAGE_TAG": e.imageTag, "KITEXSUITE_HELM": e.helm} {
		if v == "" {
			t.Fatalf("%s is not set: run the kind scenarios through scripts/kind/e2e.sh (make test, make e2e-kind)", name)
		}
	}
	return e
}

// kindPrometheusJobs is one scrape job per service of the chain, scraping
// each of its pods through the API server's pod proxy (with the test's
// client certificate), with the labels the local scenarios' queries use
// (service, pod, namespace). Debian's Prometheus is built without
// kubernetes_sd, so the targets come from podDiscovery over http_sd.
func kindPrometheusJobs(t *testing.T, cfg *rest.Config, sdURL string) func(dir string) string {
	t.Helper()
	return func(dir string) string {
		files := map[string][]byte{"ca.crt": cfg.CAData, "client.crt": cfg.CertData, "client.key": cfg.KeyData}
		for name, data := range files {
			if len(data) == 0 {
				t.Fatalf("the kind kubeconfig has no inline %s", name)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		for _, svc := range []string{gatewaySvc, ordersSvc, inventorySvc} {
			fmt.Fprintf(&b, `  - job_name: %[1]s
    scheme: https
    tls_config: {ca_file: %[2]q, cert_file: %[3]q, key_file: %[4]q}
    http_sd_configs:
      - {url: %[5]q, refresh_interval: 1s}
`, svc, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), sdURL+"?service="+svc)
		}
		return b.String()
	}
}

// podDiscovery serves Prometheus' HTTP service discovery for the chain's
// running pods, kept by an informer: one target group per pod, whose
// address is the API server and whose metrics path is the pod's proxy
// path to its prometheus.io/port. It returns the URL to give http_sd.
func podDiscovery(t *testing.T, cfg *rest.Config, cs *kubernetes.Clientset) string {
	t.Helper()
	lw := cache.NewFilteredListWatchFromClient(cs.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = "app.kubernetes.io/name in (gateway,orders,inventory)"
	})
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); inf.Run(stop) }()
	t.Cleanup(func() { close(stop); <-done })
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("pod discovery: informer did not sync")
	}
	apiHost := strings.TrimPrefix(cfg.Host, "https://")
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/targets", func(w http.ResponseWriter, r *http.Request) {
		groups := []group{}
		for _, o := range inf.GetStore().List() {
			p := o.(*corev1.Pod)
			svc, port := p.Labels["app.kubernetes.io/name"], p.Annotations["prometheus.io/port"]
			if svc != r.URL.Query().Get("service") || port == "" || p.Status.Phase != corev1.PodRunning {
				continue
			}
			groups = append(groups, group{Targets: []string{apiHost}, Labels: map[string]string{
				"__metrics_path__": fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%s/proxy/metrics", p.Namespace, p.Name, port),
				"instance":         p.Name, "pod": p.Name, "namespace": p.Namespace, "service": svc,
			}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(groups)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/targets"
}

// kindClient builds the test's clients of the cluster.
func kindClient(t *testing.T, kubeconfig string) (*rest.Config, *kubernetes.Clientset) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The load goes through the API server's proxy: client-go's default
	// client-side limit (5 requests/s) would be the bottleneck, not the chain.
	cfg.QPS = -1
	// Connections of the test's own, all closed at its end: the package's
	// goroutine-leak check runs after the test, and client-go shares its
	// transports process-wide unless the config brings its own dialer.
	dialer := connrotation.NewDialer((&net.Dialer{Timeout: 10 * time.Second}).DialContext)
	cfg.Dial = dialer.DialContext
	t.Cleanup(dialer.CloseAll)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// installChain installs, in namespace kitexsuite-<registry>, the
// registry's servers and the chain (helm upgrade --install --wait), and
// removes the namespace when t ends.
func installChain(t *testing.T, env kindEnv, cs *kubernetes.Clientset, registry string, jaeger *harness.Jaeger) *kindChain {
	t.Helper()
	c := &kindChain{cs: cs, ns: "kitexsuite-" + registry, node: env.node}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// helm uninstall first: the chart's admission policy is cluster-scoped
		// and would outlive the namespace.
		if out, err := exec.Command(env.helm, "uninstall", "demo", "--kubeconfig", env.kubeconfig, "--namespace", c.ns, "--wait").CombinedOutput(); err != nil && !strings.Contains(string(out), "not found") {
			t.Errorf("helm uninstall (registry %s): %v\n%s", registry, err, out)
		}
		c.deleteNamespace(t)
	})
	set := []string{
		"image.registry=kitexsuite.local", "image.tag=" + env.imageTag, "image.pullPolicy=Never",
		"registry.type=" + registry,
		"otel.endpoint=http://" + jaeger.OTLPGRPCAddr(), "otel.protocol=grpc",
		// Every request traced (the happy path checks a sample of them),
		// exported soon after it ends.
		"otel.sampler=parentbased_always_on", "otel.samplerArg=",
		// The scenarios replace inventory pods one at a time on one node.
		"inventory.replicas=3",
	}
	switch registry {
	case "etcd":
		c.apply(t, etcdServer(c.ns)...)
		set = append(set, "registry.etcd.endpoints[0]=etcd."+c.ns+".svc:2379")
	case "consul":
		c.apply(t, consulServer(c.ns)...)
		set = append(set, "registry.consul.nodeLocalAgent=true")
	}
	c.awaitBackends(t)
	args := []string{"upgrade", "--install", "demo", filepath.Join("..", "examples", "deploy", "helm", "kitexsuite-demo"),
		"--kubeconfig", env.kubeconfig, "--namespace", c.ns, "--wait", "--timeout", "5m"}
	for _, kv := range set {
		args = append(args, "--set", kv)
	}
	if out, err := exec.Command(env.helm, args...).CombinedOutput(); err != nil {
		t.Fatalf("helm install (registry %s): %v\n%s", registry, err, out)
	}
	c.awaitReady(t)
	// One request across the chain before any scenario: every hop then
	// exports its call counters, which the happy path reads as its base.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if r, err := c.order(ctx, "warm-up"); err != nil || r.Hops != 2 {
		t.Fatalf("first request through the chain (registry %s): %+v, %v", registry, r, err)
	}
	return c
}

// apply creates each Deployment, DaemonSet or Service in c's namespace,
// remembering the workloads' app.kubernetes.io/name as backends to wait for.
func (c *kindChain) apply(t *testing.T, objs ...any) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.Deployment:
			_, err = c.cs.AppsV1().Deployments(c.ns).Create(ctx, o, metav1.CreateOptions{})
			c.backends = append(c.backends, o.Labels["app.kubernetes.io/name"])
		case *appsv1.DaemonSet:
			_, err = c.cs.AppsV1().DaemonSets(c.ns).Create(ctx, o, metav1.CreateOptions{})
			c.backends = append(c.backends, o.Labels["app.kubernetes.io/name"])
		case *corev1.Service:
			_, err = c.cs.CoreV1().Services(c.ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("apply: unexpected %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// deleteNamespace deletes c's namespace and waits until it is gone, so the
// next registry's chain starts on an empty node.
func (c *kindChain) deleteNamespace(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := c.cs.CoreV1().Namespaces().Delete(ctx, c.ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", c.ns, err)
		return
	}
	lw := cache.NewListWatchFromClient(c.cs.CoreV1().RESTClient(), "namespaces", "", fieldsName(c.ns))
	c.await(t, lw, &corev1.Namespace{}, 3*time.Minute, "namespace "+c.ns+" deleted", func(objs []any) bool { return len(objs) == 0 })
}

// awaitBackends waits until every backend workload apply created has a
// pod and all their pods are Ready.
func (c *kindChain) awaitBackends(t *testing.T) {
	t.Helper()
	if len(c.backends) == 0 {
		return
	}
	sel := "app.kubernetes.io/name in (" + strings.Join(c.backends, ",") + ")"
	lw := cache.NewFilteredListWatchFromClient(c.cs.CoreV1().RESTClient(), "pods", c.ns, func(o *metav1.ListOptions) { o.LabelSelector = sel })
	c.await(t, lw, &corev1.Pod{}, 5*time.Minute, "registry servers "+sel+" ready", func(objs []any) bool {
		seen := map[string]bool{}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if !podReady(p) {
				return false
			}
			seen[p.Labels["app.kubernetes.io/name"]] = true
		}
		return len(seen) == len(c.backends)
	})
}

func fieldsName(name string) fields.Selector {
	return fields.OneTermEqualSelector("metadata.name", name)
}

// etcdServer is a one-member etcd (the v3.7.0 image the node preloads for
// its own control plane) serving plain-text clients on etcd.<ns>:2379.
func etcdServer(ns string) []any {
	labels := map[string]string{"app.kubernetes.io/name": "etcd"}
	return []any{
		backendDeployment("etcd", labels, corev1.Container{
			Name: "etcd", Image: "registry.k8s.io/etcd:3.7.0-0", ImagePullPolicy: corev1.PullNever,
			Command: []string{"etcd", "--name=etcd", "--data-dir=/var/run/etcd/data",
				"--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://etcd." + ns + ".svc:2379",
				"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
				"--initial-cluster=etcd=http://127.0.0.1:2380"},
			Ports:          []corev1.ContainerPort{{Name: "client", ContainerPort: 2379}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(2379)}}, PeriodSeconds: 1},
			VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/run/etcd"}},
		}),
		backendService("etcd", labels, 2379),
	}
}

// consulServer is a Consul v1.22.0 server (not -dev: a data dir, one
// bootstrapping server) and a client agent on every node (host network, so
// that pods reach their node's agent at status.hostIP:8500, the chart's
// nodeLocalAgent), from kitexsuite.local/consul (scripts/kind/build-backend-images.sh).
func consulServer(ns string) []any {
	image := "kitexsuite.local/consul:" + harness.ConsulVersion
	server := map[string]string{"app.kubernetes.io/name": "consul-server"}
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	hostIP := corev1.EnvVar{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}}
	// No update check: nothing may leave the machine (the harness's agents
	// say disable_update_check in their config).
	noCheckpoint := corev1.EnvVar{Name: "CHECKPOINT_DISABLE", Value: "1"}
	nodeName := corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}
	data := []corev1.VolumeMount{{Name: "data", MountPath: "/var/consul"}}
	// The catalog answers (through the agent, from the servers) only once
	// a leader is elected and the agent has joined.
	consulReady := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v1/catalog/nodes", Port: intstr.FromInt32(8500)}}, PeriodSeconds: 1}
	srv := backendDeployment("consul-server", server, corev1.Container{
		Name: "consul", Image: image, ImagePullPolicy: corev1.PullNever, Env: []corev1.EnvVar{podIP, noCheckpoint},
		Args: []string{"agent", "-server", "-bootstrap-expect=1", "-node=consul-server", "-data-dir=/var/consul",
			"-bind=0.0.0.0", "-advertise=$(POD_IP)", "-client=0.0.0.0", "-dns-port=-1", "-log-level=warn", "-hcl=disable_update_check = true"},
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8500}, {Name: "serflan", ContainerPort: 8301}, {Name: "server", ContainerPort: 8300}},
		ReadinessProbe: consulReady,
		VolumeMounts:   data,
	})
	svc := backendService("consul-server", server, 8500, 8301, 8300)
	svc.Spec.PublishNotReadyAddresses = true // the client agents join before the server elects itself
	agent := map[string]string{"app.kubernetes.io/name": "consul-agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "consul-agent", Labels: agent},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: agent},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: agent},
				Spec: corev1.PodSpec{
					HostNetwork: true, DNSPolicy: corev1.DNSClusterFirstWithHostNet,
					Containers: []corev1.Container{{
						Name: "consul", Image: image, ImagePullPolicy: corev1.PullNever, Env: []corev1.EnvVar{hostIP, nodeName, noCheckpoint},
						Args: []string{"agent", "-node=$(NODE_NAME)", "-data-dir=/var/consul", "-bind=$(HOST_IP)", "-client=$(HOST_IP)",
							"-retry-join=consul-server." + ns + ".svc.cluster.local", "-dns-port=-1", "-log-level=warn", "-hcl=disable_update_check = true"},
						ReadinessProbe: consulReady,
						VolumeMounts:   data,
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	return []any{svc, srv, ds}
}

func backendDeployment(name string, labels map[string]string, container corev1.Container) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{container},
					Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

func backendService(name string, selector map[string]string, ports ...int32) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p, TargetPort: intstr.FromInt32(p)})
	}
	return svc
}
