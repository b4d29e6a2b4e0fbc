package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/k8s"
)

// TestK8sScenarios runs, on the harness's own Kubernetes control plane,
// the scenarios for which it is the better instrument than kind: the API
// server stopped for exactly 30 s and started again (registry_down_30s),
// the trace backend's outage, and the happy path they start from. Each
// process of the chain plays a pod (it runs in the test-host network
// namespace at an address of its own, registers through its readiness
// gate), and the test plays the kubelet. What a kubelet does to pods —
// SIGKILL, rollout, its own restart — is tested with a real one on kind
// (TestKindScenarios).
func TestK8sScenarios(t *testing.T) {
	bins := buildChain(t)
	rep := &scenarioReport{}
	defer rep.write(t, "kitexsuite e2e scenarios: Kubernetes")
	var scenarios []chainScenario
	for _, sc := range allScenarios {
		if sc.name != "replica_sigkill" && sc.name != "rolling_restart" {
			scenarios = append(scenarios, sc)
		}
	}
	runScenarios(t, rep, bins, "k8s", startK8sScenarioEnv, scenarios)
}

// The ports every "pod" of the chain serves on, at its own address.
const (
	k8sRPCPort     = 8888
	k8sGatewayPort = 8080
	k8sMetricsPort = 9090
)

// k8sScenarioEnv is a control plane with the chain's namespace, node and
// Services, the test-host network its pods live on, and the test's kubelet.
type k8sScenarioEnv struct {
	kube    *harness.Kube
	cs      *kubernetes.Clientset
	hosts   *harness.TestHosts
	kubelet *kubelet
	ns      string
}

func startK8sScenarioEnv(t *testing.T) registryEnv {
	kube := harness.StartKube(t)
	e := &k8sScenarioEnv{kube: kube, cs: kube.Clientset(t), hosts: harness.StartTestHosts(t), ns: "shop"}
	kube.CreateNamespace(t, e.ns)
	kube.CreateNode(t, "node-a", "zone-a")
	for _, svc := range []string{ordersSvc, inventorySvc} {
		_, err := e.cs.CoreV1().Services(e.ns).Create(context.Background(), &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: svc},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": svc}, Ports: []corev1.ServicePort{
				{Name: "rpc", Port: k8sRPCPort, TargetPort: intstr.FromInt32(k8sRPCPort)},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.kubelet = startKubelet(t, e.cs, e.ns)
	// The pods reach the API server at the address their kubeconfig names.
	e.hosts.Forward(t, strings.TrimPrefix(kube.Host(), "https://"))
	return e
}

func (e *k8sScenarioEnv) name() string { return "k8s" }
func (e *k8sScenarioEnv) env() []string {
	return []string{"KITEXSUITE_REGISTRY=k8s", "KUBECONFIG=" + e.kube.Kubeconfig(), "POD_NAMESPACE=" + e.ns}
}
func (e *k8sScenarioEnv) namespace() string               { return e.hosts.Namespace() }
func (e *k8sScenarioEnv) reach(t *testing.T, addr string) { e.hosts.Forward(t, addr) }
func (e *k8sScenarioEnv) target(service string) string {
	return fmt.Sprintf("%s.%s:%d", service, e.ns, k8sRPCPort)
}
func (e *k8sScenarioEnv) registers(p *chainProc) bool { return p.service != gatewaySvc }

// expiry: the kubelet notices a dead container at once; the EndpointSlice
// controller and the resolvers follow within a second or two.
func (e *k8sScenarioEnv) expiry() time.Duration { return 5 * time.Second }

// place gives p a test-host address and, for a service that registers, a
// pod gated by kitexsuite's readiness gate.
func (e *k8sScenarioEnv) place(t *testing.T, p *chainProc) []string {
	p.ip = e.hosts.AddIP(t)
	port := k8sRPCPort
	if p.service == gatewaySvc {
		port = k8sGatewayPort
	}
	p.addr, p.metrics = hostPort(p.ip, port), hostPort(p.ip, k8sMetricsPort)
	if !e.registers(p) {
		return nil
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), newPod(p.name, p.service, "node-a", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return []string{"POD_NAME=" + p.name}
}

func (e *k8sScenarioEnv) running(_ *testing.T, p *chainProc) {
	if e.registers(p) {
		e.kubelet.run(p.name, p.ip)
	}
}

// exited is the kubelet seeing the container end: the pod is not ready,
// then deleted.
func (e *k8sScenarioEnv) exited(t *testing.T, p *chainProc) {
	if !e.registers(p) {
		return
	}
	e.kubelet.run(p.name)
	zero := int64(0)
	if err := e.cs.CoreV1().Pods(e.ns).Delete(context.Background(), p.name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Errorf("delete pod %s: %v", p.name, err)
	}
}

func (e *k8sScenarioEnv) newResolver(t *testing.T) (discovery.Resolver, func(string) string) {
	r := k8s.NewResolver(e.cs)
	t.Cleanup(func() { _ = r.Close() })
	return r, e.target
}

// outage stops kube-apiserver; etcd keeps every object.
func (e *k8sScenarioEnv) outage(t *testing.T) func() {
	e.kube.StopAPIServer()
	return func() { e.kube.StartAPIServer(t) }
}
